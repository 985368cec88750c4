package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func withUUID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "uuid", id)
}

func lockReq(key, owner, value string, code models.TypeCode, ttl int64) *models.LockRequest {
	return &models.LockRequest{
		Resource:     &models.Resource{Key: key, Owner: owner, Value: value, TypeCode: code},
		TtlInSeconds: ttl,
	}
}

func releaseReq(key, owner string) *models.ReleaseRequest {
	return &models.ReleaseRequest{Resource: &models.Resource{Key: key, Owner: owner}}
}

// wantStatus fails unless err is a gRPC status with code and exactly desc.
func wantStatus(t *testing.T, err error, code codes.Code, desc string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("got %v, want %s %q", err, code, desc)
	}
	if st.Code() != code || st.Message() != desc {
		t.Fatalf("got %s %q, want %s %q", st.Code(), st.Message(), code, desc)
	}
}

// wantStatusContains is wantStatus for our own descriptions, checked by
// their parts.
func wantStatusContains(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("got %v, want %s", err, code)
	}
	if st.Code() != code {
		t.Fatalf("got %s %q, want %s", st.Code(), st.Message(), code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Fatalf("description %q lacks %q", st.Message(), p)
		}
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fetch returns the resource or fails.
func fetch(t *testing.T, c models.LocketClient, key string) *models.Resource {
	t.Helper()
	r, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: key})
	if err != nil {
		t.Fatalf("Fetch %q: %v", key, err)
	}
	return r.Resource
}

func sameResource(t *testing.T, got, want *models.Resource) {
	t.Helper()
	if got.GetKey() != want.GetKey() || got.GetOwner() != want.GetOwner() || got.GetValue() != want.GetValue() ||
		got.GetType() != want.GetType() || got.GetTypeCode() != want.GetTypeCode() {
		t.Fatalf("got resource %v, want %v", got, want)
	}
}

// modifiedIndex reads the row as an operator would.
func modifiedIndex(t *testing.T, db testenv.Database, key string) (idx int64, id string) {
	t.Helper()
	admin := db.Admin(t)
	defer admin.Close()
	err := admin.QueryRowContext(ctxT(t), db.Rebind("SELECT modified_index, modified_id FROM locks WHERE path = ?"), key).Scan(&idx, &id)
	if err != nil {
		t.Fatalf("read row %q: %v", key, err)
	}
	return idx, id
}

// errorLines returns the error-level lines from index from on.
func errorLines(s *testenv.Server, from int) []testenv.LogLine {
	var out []testenv.LogLine
	for _, l := range s.Logs()[from:] {
		if l.Level == "error" || l.Level == "fatal" {
			out = append(out, l)
		}
	}
	return out
}
