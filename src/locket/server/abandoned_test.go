package server_test

import (
	"context"
	"path/filepath"
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
	st, err := store.Open(store.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "locket.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := server.NewService(lager.NewLogger("locket"), st, 5*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = svc.Lock(ctx, &models.LockRequest{
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
