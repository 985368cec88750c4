package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestConcurrentFirstAcquisitions: many owners acquiring different keys at
// the same moment (a fleet of cells starting, a benchmark's first round)
// must all succeed: deadlocks between their acquisition transactions are
// retried, never returned.
func TestConcurrentFirstAcquisitions(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		const n = 64
		for round := 0; round < 3; round++ {
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := fmt.Sprintf("cell-%d-%d", round, i)
					if _, err := st.Lock(ctx(t), store.Lock{Key: key, Owner: "o", Type: "presence", TTL: 15}); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("round %d: %v", round, err)
			}
		}
	})
}
