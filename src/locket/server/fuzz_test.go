package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/server"
	"github.com/locket-release/locket/store"
)

// FuzzRequests decodes arbitrary bytes as the body of one of the four RPCs,
// the way the gRPC codec does (proto.Unmarshal), and hands the request to
// the service backed by a real SQLite store. Whatever the bytes, the service
// must not panic; a request the protocol rejects must get exactly the
// protocol's error (validation order: resource, type, ttl, owner, lengths);
// any other answer must be success or lock-collision, and a successful Lock
// must be what Fetch then returns. Crashers found by
// `go test -run '^$' -fuzz '^FuzzRequests$' ./server` are kept in
// testdata/fuzz/FuzzRequests and run with every `go test`.
func FuzzRequests(f *testing.F) {
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: filepath.Join(f.TempDir(), "fuzz.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	cancel()
	svc := server.NewService(lager.NewLogger("locket"), st, 5*time.Second)

	seed := func(rpc uint8, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rpc, b)
	}
	res := func(key, owner, value string, code models.TypeCode) *models.Resource {
		return &models.Resource{Key: key, Owner: owner, Value: value, TypeCode: code}
	}
	seed(0, &models.LockRequest{Resource: res("bbs", "cell-1", "", models.TypeCode_LOCK), TtlInSeconds: 15})
	seed(0, &models.LockRequest{Resource: res("cell-1", "uuid", `{"cell_id":"cell-1"}`, models.TypeCode_PRESENCE), TtlInSeconds: 15})
	seed(0, &models.LockRequest{Resource: res("bbs", "other", "", models.TypeCode_LOCK), TtlInSeconds: 1})
	seed(0, &models.LockRequest{Resource: res("", "", "", models.TypeCode_UNKNOWN)})
	seed(0, &models.LockRequest{Resource: res("k", "o", "", 7), TtlInSeconds: -1})
	seed(0, &models.LockRequest{Resource: res("k", "o", "", models.TypeCode_LOCK), TtlInSeconds: 1 << 62})
	seed(0, &models.LockRequest{Resource: res("k2", "o", "", models.TypeCode_LOCK), TtlInSeconds: store.MaxTTL})
	seed(0, &models.LockRequest{Resource: res("k3", "o", "", models.TypeCode_LOCK), TtlInSeconds: store.MaxTTL + 1})
	seed(0, &models.LockRequest{})
	seed(1, &models.ReleaseRequest{Resource: res("bbs", "cell-1", "", models.TypeCode_LOCK)})
	seed(1, &models.ReleaseRequest{})
	seed(2, &models.FetchRequest{Key: "bbs"})
	seed(3, &models.FetchAllRequest{TypeCode: models.TypeCode_PRESENCE})
	seed(3, &models.FetchAllRequest{Type: "lock"})
	f.Add(uint8(0), []byte{0x0a, 0x02, 0x12, 0x80}) // a truncated resource

	f.Fuzz(func(t *testing.T, rpc uint8, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch rpc % 4 {
		case 0:
			req := &models.LockRequest{}
			if proto.Unmarshal(data, req) != nil {
				return // the codec answers before the service sees it
			}
			_, err := svc.Lock(ctx, req)
			if code, desc, reject := wantLock(req); reject {
				wantExactly(t, err, code, desc)
				return
			}
			if allowedCollision(t, err) {
				return
			}
			got, err := svc.Fetch(ctx, &models.FetchRequest{Key: req.GetResource().GetKey()})
			if err != nil {
				t.Fatalf("Fetch after a successful Lock of %q: %v", req.GetResource().GetKey(), err)
			}
			r := got.GetResource()
			if r.GetOwner() != req.GetResource().GetOwner() || r.GetValue() != req.GetResource().GetValue() ||
				r.GetTypeCode() != req.GetResource().GetTypeCode() {
				t.Fatalf("Fetch answered %v after Lock of %v", r, req.GetResource())
			}
		case 1:
			req := &models.ReleaseRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			_, err := svc.Release(ctx, req)
			if code, desc, reject := wantRelease(req); reject {
				wantExactly(t, err, code, desc)
				return
			}
			allowedCollision(t, err)
		case 2:
			req := &models.FetchRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			resp, err := svc.Fetch(ctx, req)
			if err != nil {
				wantExactly(t, err, codes.NotFound, "resource-not-found")
				return
			}
			if resp.GetResource().GetOwner() == "" || resp.GetResource().GetKey() != req.GetKey() {
				t.Fatalf("Fetch of %q answered %v", req.GetKey(), resp.GetResource())
			}
		case 3:
			req := &models.FetchAllRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			resp, err := svc.FetchAll(ctx, req)
			if typ := models.TypeString(req.GetTypeCode()); typ == "" {
				wantExactly(t, err, codes.NotFound, "invalid-type")
				return
			}
			if err != nil {
				t.Fatalf("FetchAll(%v): %v", req.GetTypeCode(), err)
			}
			for _, r := range resp.GetResources() {
				if r.GetOwner() == "" || r.GetTypeCode() != req.GetTypeCode() {
					t.Fatalf("FetchAll(%v) answered %v", req.GetTypeCode(), r)
				}
			}
		}
	})
}

// wantLock is the protocol's verdict on a Lock request, written from the
// contract rather than the code: reject, with which code and description
// ("" for ours, whose descriptions are checked by code only).
func wantLock(req *models.LockRequest) (codes.Code, string, bool) {
	r := req.GetResource()
	switch {
	case r == nil:
		return codes.InvalidArgument, "", true
	case models.TypeString(r.GetTypeCode()) == "":
		return codes.NotFound, "invalid-type", true
	case req.GetTtlInSeconds() <= 0:
		return codes.InvalidArgument, "invalid-ttl", true
	case r.GetOwner() == "":
		return codes.InvalidArgument, "invalid-owner", true
	case tooLong(r):
		return codes.InvalidArgument, "", true
	case req.GetTtlInSeconds() > store.MaxTTL:
		// The protocol sets no upper bound; ours refuses TTLs whose
		// deadline would overflow (before, such a Lock was answered
		// Unavailable, as if the database were down).
		return codes.InvalidArgument, "", true
	}
	return codes.OK, "", false
}

func wantRelease(req *models.ReleaseRequest) (codes.Code, string, bool) {
	r := req.GetResource()
	if r == nil || tooLong(r) {
		return codes.InvalidArgument, "", true
	}
	return codes.OK, "", false
}

func tooLong(r *models.Resource) bool {
	return utf8.RuneCountInString(r.GetKey()) > store.MaxKeyLength ||
		utf8.RuneCountInString(r.GetOwner()) > store.MaxOwnerLength ||
		utf8.RuneCountInString(r.GetValue()) > store.MaxValueLength
}

func wantExactly(t *testing.T, err error, code codes.Code, desc string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != code || (desc != "" && st.Message() != desc) {
		t.Fatalf("got %v, want %s %q", err, code, desc)
	}
}

// allowedCollision accepts success (false) or lock-collision (true) and
// fails the test on anything else.
func allowedCollision(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	wantExactly(t, err, codes.AlreadyExists, "lock-collision")
	return true
}
