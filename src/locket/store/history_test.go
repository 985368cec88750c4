package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// Fencing tokens strictly increase per key across releases, expiries, a
// second server (store) and a restart (a new store on the same database);
// renewals return the holding's token.
func TestFencingTokens(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		a := openStore(t, db)
		c := ctx(t)
		var last int64
		next := func(st *store.Store, owner string) int64 {
			t.Helper()
			res, err := st.Lock(c, store.Lock{Key: "bbs", Owner: owner, Type: "lock", TTL: 1, RequestID: "req-" + owner})
			if err != nil || !res.Acquired {
				t.Fatalf("acquire by %s: %+v, %v", owner, res, err)
			}
			if res.FencingToken <= last {
				t.Fatalf("token %d after %d", res.FencingToken, last)
			}
			last = res.FencingToken
			renew, err := st.Lock(c, store.Lock{Key: "bbs", Owner: owner, Type: "lock", TTL: 1})
			if err != nil || renew.Acquired || renew.FencingToken != last {
				t.Fatalf("renewal by %s: %+v, %v (want token %d)", owner, renew, err, last)
			}
			if l, err := st.Fetch(c, "bbs"); err != nil || l.FencingToken != last {
				t.Fatalf("fetch: %+v, %v", l, err)
			}
			return last
		}
		next(a, "one")
		if _, err := a.Release(c, "bbs", "one"); err != nil {
			t.Fatal(err)
		}
		next(a, "two")
		// Expiry (TTL 1 s), swept by a second store, then acquired through it.
		b := openStore(t, db)
		deadline := time.Now().Add(5 * time.Second)
		for {
			gone, err := b.Sweep(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(gone) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("lock never expired")
			}
			time.Sleep(50 * time.Millisecond)
		}
		next(b, "three")
		mustRelease(t, b, "bbs", "three")
		// "Restart": a fresh store.
		a.Close()
		next(openStore(t, db), "four")
		if last != 4 {
			t.Fatalf("last token %d, want 4 (one per acquisition)", last)
		}
		// Another key has its own sequence.
		res, err := b.Lock(c, store.Lock{Key: "other", Owner: "x", Type: "lock", TTL: 5})
		if err != nil || res.FencingToken != 1 {
			t.Fatalf("other key: %+v, %v", res, err)
		}

		// History has every ownership change, newest first, with the
		// previous owner and the request id.
		evs, err := b.History(c, store.HistoryQuery{Key: "bbs"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Type+":"+e.Owner+"<"+e.PreviousOwner)
		}
		want := []string{"taken-over:four<three", "released:three<", "taken-over:three<two", "expired:two<",
			"taken-over:two<one", "released:one<", "acquired:one<"}
		if len(got) != len(want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("history %v, want %v", got, want)
			}
		}
		if evs[len(evs)-1].RequestID != "req-one" || evs[len(evs)-1].FencingToken != 1 || evs[0].FencingToken != 4 {
			t.Fatalf("oldest event %+v, newest %+v", evs[len(evs)-1], evs[0])
		}
		// Paging and the type filter.
		page, err := b.History(c, store.HistoryQuery{Key: "bbs", Limit: 2, BeforeID: evs[1].ID})
		if err != nil || len(page) != 2 || page[0].ID != evs[2].ID {
			t.Fatalf("page: %+v, %v", page, err)
		}
		if p, err := b.History(c, store.HistoryQuery{LockType: "presence"}); err != nil || len(p) != 0 {
			t.Fatalf("presence history: %+v, %v", p, err)
		}
		// The feed returns the same events in id order.
		feed, now, err := b.EventsAfter(c, 0)
		if err != nil || len(feed) != len(evs)+1 || feed[0].ID != evs[len(evs)-1].ID || now <= 0 {
			t.Fatalf("feed: %d events, now %d, %v", len(feed), now, err)
		}
		if n, err := b.PruneHistory(c, time.Hour); err != nil || n != 0 {
			t.Fatalf("prune hour: %d, %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
		if n, err := b.PruneHistory(c, time.Microsecond); err != nil || n != int64(len(feed)) {
			t.Fatalf("prune all: %d, %v", n, err)
		}
	})
}

func mustRelease(t *testing.T, st *store.Store, key, owner string) {
	t.Helper()
	if l, err := st.Release(ctx(t), key, owner); err != nil || l.Owner != owner {
		t.Fatalf("release %s: %+v, %v", key, l, err)
	}
}

// Tokens stay unique and increasing when acquisitions race on two stores.
func TestFencingTokensConcurrent(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		stores := []*store.Store{openStore(t, db), openStore(t, db)}
		c := ctx(t)
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := stores[w%2]
				owner := string(rune('a' + w))
				for i := 0; i < 15; i++ {
					res, err := st.Lock(c, store.Lock{Key: "k", Owner: owner, Type: "lock", TTL: 5})
					if errors.Is(err, store.ErrCollision) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if res.Acquired {
						mu.Lock()
						if seen[res.FencingToken] {
							t.Errorf("token %d handed out twice", res.FencingToken)
						}
						seen[res.FencingToken] = true
						mu.Unlock()
					}
					if _, err := st.Release(c, "k", owner); err != nil && !errors.Is(err, store.ErrCollision) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("%d acquisitions, all tokens distinct", len(seen))
	})
}

// With an identity check, only the acquirer's identity may release or renew.
func TestAcquirerIdentity(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		c := ctx(t)
		mustLock(t, st, store.Lock{Key: "bbs", Owner: "o", Type: "lock", TTL: 5, Identity: "CN=bbs", BindIdentity: true})
		if _, err := st.Lock(c, store.Lock{Key: "bbs", Owner: "o", Type: "lock", TTL: 5, Identity: "CN=cell", BindIdentity: true}); !errors.Is(err, store.ErrCollision) {
			t.Fatalf("renewal by another identity: %v", err)
		}
		if _, err := st.Lock(c, store.Lock{Key: "bbs", Owner: "o", Type: "lock", TTL: 5, Identity: "CN=bbs", BindIdentity: true}); err != nil {
			t.Fatalf("renewal by the acquirer: %v", err)
		}
		if _, err := st.ReleaseAs(c, store.Release{Key: "bbs", Owner: "o", Identity: "CN=cell", CheckIdentity: true}); !errors.Is(err, store.ErrForbidden) {
			t.Fatalf("release by another identity: %v", err)
		}
		if l, err := st.ReleaseAs(c, store.Release{Key: "bbs", Owner: "o", Identity: "CN=bbs", CheckIdentity: true}); err != nil || l.AcquiredBy != "CN=bbs" {
			t.Fatalf("release by the acquirer: %+v, %v", l, err)
		}
	})
}
