package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

// TestFetchAllSharedReadsStayFresh: with FetchAll callers hammering the
// server (so that reads are shared), a presence whose Lock has returned is
// in every FetchAll that starts afterwards, and a released one is gone.
func TestFetchAllSharedReadsStayFresh(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		srv := testenv.StartServer(t, db, nil)
		c := srv.Client(t)
		for i := range 300 {
			_, err := c.Lock(ctxT(t), lockReq(fmt.Sprintf("cell-%03d", i), "rep", `{"cell_id":"x"}`, models.TypeCode_PRESENCE, 60))
			mustOK(t, err)
		}

		ctx, stop := context.WithCancel(ctxT(t))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					c.FetchAll(ctx, &models.FetchAllRequest{TypeCode: models.TypeCode_PRESENCE}) //nolint:errcheck // load only
				}
			}()
		}
		defer func() { stop(); wg.Wait() }()

		has := func(key string) bool {
			r, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: models.TypeCode_PRESENCE})
			mustOK(t, err)
			for _, res := range r.Resources {
				if res.Key == key {
					return true
				}
			}
			return false
		}
		for i := range 30 {
			key := fmt.Sprintf("new-%02d", i)
			_, err := c.Lock(ctxT(t), lockReq(key, "rep", `{}`, models.TypeCode_PRESENCE, 60))
			mustOK(t, err)
			if !has(key) {
				t.Fatalf("round %d: FetchAll after the Lock returned misses %s", i, key)
			}
			_, err = c.Release(ctxT(t), releaseReq(key, "rep"))
			mustOK(t, err)
			if has(key) {
				t.Fatalf("round %d: FetchAll after the Release returned still has %s", i, key)
			}
		}
	})
}
