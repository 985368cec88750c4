package server_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/server"
	"github.com/locket-release/locket/store"
)

// TestAbandonedLockWritesNothing: a Lock whose client has already given up
// (it reaches the service with its context done, e.g. from a server that hung
// and woke up) must not take the lock.
func TestAbandonedLockWritesNothing(t *testing.T) {
	st := sqliteStore(t)
	svc := server.NewService(lager.NewLogger("locket"), st, 5*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := svc.Lock(ctx, &models.LockRequest{
		Resource:     &models.Resource{Key: "bbs", Owner: "stale", TypeCode: models.TypeCode_LOCK},
		TtlInSeconds: 15,
	})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("abandoned Lock answered %v, want Canceled", err)
	}
	if _, err := st.Fetch(context.Background(), "bbs"); err != store.ErrNotFound {
		t.Fatalf("abandoned Lock took the lock: fetch = %v", err)
	}
}

// TestAbandonedReleaseDeletesNothing: the same for a Release, which must not
// delete a lock its owner may have renewed since; and the client giving up
// is not logged as a database failure.
func TestAbandonedReleaseDeletesNothing(t *testing.T) {
	st := sqliteStore(t)
	logger := lager.NewLogger("locket")
	var logs bytes.Buffer
	logger.RegisterSink(lager.NewWriterSink(&logs, lager.DEBUG))
	svc := server.NewService(logger, st, 5*time.Second)
	held := &models.Resource{Key: "bbs", Owner: "bbs-1", TypeCode: models.TypeCode_LOCK}
	if _, err := svc.Lock(context.Background(), &models.LockRequest{Resource: held, TtlInSeconds: 15}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := svc.Release(ctx, &models.ReleaseRequest{Resource: held}); status.Code(err) != codes.Canceled {
		t.Fatalf("abandoned Release answered %v, want Canceled", err)
	}
	if l, err := st.Fetch(context.Background(), "bbs"); err != nil || l.Owner != "bbs-1" {
		t.Fatalf("after the abandoned Release: %+v, %v; want still held by bbs-1", l, err)
	}
	if strings.Contains(logs.String(), `"log_level":2`) { // lager.ERROR
		t.Errorf("the client giving up was logged as an error:\n%s", logs.String())
	}
}

// sqliteStore opens a migrated store on a SQLite file of the test's own.
func sqliteStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "locket.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
