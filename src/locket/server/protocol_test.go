package server_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

// TestProtocol checks every row of protocol.md's error and semantics tables
// through a real server process, over mutual TLS, with the generated client.
func TestProtocol(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		srv := testenv.StartServer(t, db, nil)
		c := srv.Client(t)

		t.Run("FetchAll on an empty table is an empty response", func(t *testing.T) {
			for _, code := range []models.TypeCode{models.TypeCode_LOCK, models.TypeCode_PRESENCE} {
				r, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: code})
				mustOK(t, err)
				if len(r.Resources) != 0 {
					t.Fatalf("FetchAll(%s) = %v, want none", code, r.Resources)
				}
			}
		})

		t.Run("new key is stored with owner, value, type and ttl", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("new", "o1", "v1", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			sameResource(t, fetch(t, c, "new"), &models.Resource{Key: "new", Owner: "o1", Value: "v1", Type: "lock", TypeCode: models.TypeCode_LOCK})
			idx, id := modifiedIndex(t, db, "new")
			if idx != 1 || id == "" {
				t.Fatalf("new row has modified_index %d, modified_id %q; want 1 and a GUID", idx, id)
			}
		})

		t.Run("same owner renews: value, type, ttl replaced, index bumped", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("renew", "o1", "v1", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			idx1, id1 := modifiedIndex(t, db, "renew")
			_, err = c.Lock(ctxT(t), lockReq("renew", "o1", "v2", models.TypeCode_PRESENCE, 45))
			mustOK(t, err)
			sameResource(t, fetch(t, c, "renew"), &models.Resource{Key: "renew", Owner: "o1", Value: "v2", Type: "presence", TypeCode: models.TypeCode_PRESENCE})
			idx2, id2 := modifiedIndex(t, db, "renew")
			if idx2 != idx1+1 || id2 != id1 {
				t.Fatalf("renewal: index %d -> %d, id %q -> %q; want +1 and the same id", idx1, idx2, id1, id2)
			}
			admin := db.Admin(t)
			defer admin.Close()
			var ttl int64
			mustOK(t, admin.QueryRowContext(ctxT(t), db.Rebind("SELECT ttl FROM locks WHERE path = ?"), "renew").Scan(&ttl))
			if ttl != 45 {
				t.Fatalf("ttl after renewal = %d, want 45", ttl)
			}
		})

		t.Run("different owner collides and changes nothing", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("held", "o1", "v1", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			idx, _ := modifiedIndex(t, db, "held")
			_, err = c.Lock(ctxT(t), lockReq("held", "o2", "v2", models.TypeCode_PRESENCE, 30))
			wantStatus(t, err, codes.AlreadyExists, "lock-collision")
			sameResource(t, fetch(t, c, "held"), &models.Resource{Key: "held", Owner: "o1", Value: "v1", Type: "lock", TypeCode: models.TypeCode_LOCK})
			if idx2, _ := modifiedIndex(t, db, "held"); idx2 != idx {
				t.Fatalf("collision changed modified_index %d -> %d", idx, idx2)
			}
		})

		t.Run("a row with an empty owner can be taken and is not fetched", func(t *testing.T) {
			admin := db.Admin(t)
			defer admin.Close()
			_, err := admin.ExecContext(ctxT(t), db.Rebind(
				"INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl) VALUES (?, '', 'old', 'lock', 7, 'some-guid', 60)"), "unowned")
			mustOK(t, err)
			_, err = c.Fetch(ctxT(t), &models.FetchRequest{Key: "unowned"})
			wantStatus(t, err, codes.NotFound, "resource-not-found")
			r, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: models.TypeCode_LOCK})
			mustOK(t, err)
			for _, res := range r.Resources {
				if res.Key == "unowned" {
					t.Fatalf("FetchAll returned the unowned row")
				}
			}
			_, err = c.Lock(ctxT(t), lockReq("unowned", "taker", "new", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			sameResource(t, fetch(t, c, "unowned"), &models.Resource{Key: "unowned", Owner: "taker", Value: "new", Type: "lock", TypeCode: models.TypeCode_LOCK})
		})

		t.Run("the deprecated type string is ignored", func(t *testing.T) {
			req := lockReq("typed", "o1", "", models.TypeCode_UNKNOWN, 30)
			req.Resource.Type = "lock"
			_, err := c.Lock(ctxT(t), req)
			wantStatus(t, err, codes.NotFound, "invalid-type")
			req = lockReq("typed", "o1", "", models.TypeCode_LOCK, 30)
			req.Resource.Type = "presence"
			_, err = c.Lock(ctxT(t), req)
			mustOK(t, err)
			if got := fetch(t, c, "typed"); got.Type != "lock" || got.TypeCode != models.TypeCode_LOCK {
				t.Fatalf("stored type %q/%s, want lock", got.Type, got.TypeCode)
			}
			all, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{Type: "presence", TypeCode: models.TypeCode_LOCK})
			mustOK(t, err)
			for _, r := range all.Resources {
				if r.TypeCode != models.TypeCode_LOCK {
					t.Fatalf("FetchAll(type_code LOCK, type presence) returned %v", r)
				}
			}
		})

		t.Run("the empty key is a valid key", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("", "o1", "empty", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			sameResource(t, fetch(t, c, ""), &models.Resource{Key: "", Owner: "o1", Value: "empty", Type: "lock", TypeCode: models.TypeCode_LOCK})
			_, err = c.Release(ctxT(t), releaseReq("", "o1"))
			mustOK(t, err)
			_, err = c.Fetch(ctxT(t), &models.FetchRequest{Key: ""})
			wantStatus(t, err, codes.NotFound, "resource-not-found")
		})

		t.Run("validation order: type, ttl, owner", func(t *testing.T) {
			cases := []struct {
				req  *models.LockRequest
				code codes.Code
				desc string
			}{
				{lockReq("v", "", "", models.TypeCode_UNKNOWN, 0), codes.NotFound, "invalid-type"},
				{lockReq("v", "", "", models.TypeCode(7), 0), codes.NotFound, "invalid-type"},
				{lockReq("v", "", "", models.TypeCode(-1), 10), codes.NotFound, "invalid-type"},
				{lockReq("v", "", "", models.TypeCode_LOCK, 0), codes.InvalidArgument, "invalid-ttl"},
				{lockReq("v", "o", "", models.TypeCode_PRESENCE, -5), codes.InvalidArgument, "invalid-ttl"},
				{lockReq("v", "", "", models.TypeCode_PRESENCE, 10), codes.InvalidArgument, "invalid-owner"},
			}
			for _, tc := range cases {
				_, err := c.Lock(ctxT(t), tc.req)
				wantStatus(t, err, tc.code, tc.desc)
			}
			_, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: "v"})
			wantStatus(t, err, codes.NotFound, "resource-not-found")
		})

		t.Run("release", func(t *testing.T) {
			_, err := c.Release(ctxT(t), releaseReq("never-existed", "o1"))
			mustOK(t, err) // upstream: success, despite its docs

			_, err = c.Lock(ctxT(t), lockReq("rel", "o1", "v", models.TypeCode_PRESENCE, 30))
			mustOK(t, err)
			_, err = c.Release(ctxT(t), releaseReq("rel", "o2"))
			wantStatus(t, err, codes.AlreadyExists, "lock-collision")
			fetch(t, c, "rel") // still there

			// Value and type of the request are ignored.
			req := releaseReq("rel", "o1")
			req.Resource.Value, req.Resource.TypeCode = "other", models.TypeCode_LOCK
			_, err = c.Release(ctxT(t), req)
			mustOK(t, err)
			_, err = c.Fetch(ctxT(t), &models.FetchRequest{Key: "rel"})
			wantStatus(t, err, codes.NotFound, "resource-not-found")

			// Gone at once: another owner takes it, and it is a new row.
			_, err = c.Lock(ctxT(t), lockReq("rel", "o2", "", models.TypeCode_LOCK, 30))
			mustOK(t, err)
			if idx, _ := modifiedIndex(t, db, "rel"); idx != 1 {
				t.Fatalf("re-acquired row has modified_index %d, want 1", idx)
			}
		})

		t.Run("fetch of a missing key", func(t *testing.T) {
			_, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: "missing"})
			wantStatus(t, err, codes.NotFound, "resource-not-found")
			_, err = c.Fetch(ctxT(t), &models.FetchRequest{Key: strings.Repeat("k", 300)})
			wantStatus(t, err, codes.NotFound, "resource-not-found")
		})

		t.Run("fetch all by type", func(t *testing.T) {
			for _, code := range []models.TypeCode{models.TypeCode_UNKNOWN, models.TypeCode(3), models.TypeCode(-2)} {
				_, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: code})
				wantStatus(t, err, codes.NotFound, "invalid-type")
			}
			_, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{Type: "lock"})
			wantStatus(t, err, codes.NotFound, "invalid-type")

			for i := 0; i < 3; i++ {
				_, err := c.Lock(ctxT(t), lockReq(fmt.Sprintf("fa-cell-%d", i), "rep", "{}", models.TypeCode_PRESENCE, 30))
				mustOK(t, err)
			}
			want := map[models.TypeCode][]string{}
			all := map[string]bool{}
			for _, code := range []models.TypeCode{models.TypeCode_LOCK, models.TypeCode_PRESENCE} {
				r, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: code})
				mustOK(t, err)
				for _, res := range r.Resources {
					if res.TypeCode != code || res.Type != models.TypeString(code) || res.Owner == "" {
						t.Fatalf("FetchAll(%s) returned %v", code, res)
					}
					want[code] = append(want[code], res.Key)
					all[res.Key] = true
				}
			}
			sort.Strings(want[models.TypeCode_PRESENCE])
			got := strings.Join(want[models.TypeCode_PRESENCE], ",")
			if !strings.Contains(got, "fa-cell-0,fa-cell-1,fa-cell-2") {
				t.Fatalf("presences = %s", got)
			}
			if !all["held"] || !all["new"] {
				t.Fatalf("locks missing from FetchAll: %v", want[models.TypeCode_LOCK])
			}
		})

		t.Run("lock and release without a resource", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), &models.LockRequest{TtlInSeconds: 10})
			wantStatusContains(t, err, codes.InvalidArgument, "resource")
			_, err = c.Release(ctxT(t), &models.ReleaseRequest{})
			wantStatusContains(t, err, codes.InvalidArgument, "resource")
			_, err = c.Lock(ctxT(t), lockReq("after-nil", "o", "", models.TypeCode_LOCK, 10))
			mustOK(t, err) // the server is still there
			if !srv.Running() {
				t.Fatal("server exited")
			}
		})

		t.Run("field limits count characters", func(t *testing.T) {
			long := func(n int) string { return strings.Repeat("é", n) } // two bytes each in UTF-8
			cases := []struct {
				name  string
				req   *models.LockRequest
				parts []string
			}{
				{"key", lockReq(long(256), "o", "", models.TypeCode_LOCK, 10), []string{"key", "255"}},
				{"owner", lockReq("k-owner", long(256), "", models.TypeCode_LOCK, 10), []string{"owner", "255"}},
				{"value", lockReq("k-value", "o", long(4097), models.TypeCode_LOCK, 10), []string{"value", "4096"}},
			}
			for _, tc := range cases {
				_, err := c.Lock(ctxT(t), tc.req)
				wantStatusContains(t, err, codes.InvalidArgument, tc.parts...)
			}
			_, err := c.Release(ctxT(t), releaseReq(long(256), "o"))
			wantStatusContains(t, err, codes.InvalidArgument, "key", "255")

			// At the limits, in multi-byte characters, it is stored whole.
			atLimit := lockReq(long(255), long(255), long(4096), models.TypeCode_PRESENCE, 10)
			_, err = c.Lock(ctxT(t), atLimit)
			mustOK(t, err)
			got := fetch(t, c, long(255))
			if got.Owner != long(255) || got.Value != long(4096) {
				t.Fatalf("stored owner/value truncated: %d/%d characters", len([]rune(got.Owner)), len([]rune(got.Value)))
			}
		})

		t.Run("racing owners: one wins, every loser gets lock-collision", func(t *testing.T) {
			const n = 16
			for round := 0; round < 5; round++ {
				key := fmt.Sprintf("race-%d", round)
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[i] = c.Lock(ctxT(t), lockReq(key, fmt.Sprintf("owner-%d", i), "", models.TypeCode_LOCK, 30))
					}()
				}
				wg.Wait()
				wins := 0
				for _, err := range errs {
					if err == nil {
						wins++
						continue
					}
					wantStatus(t, err, codes.AlreadyExists, "lock-collision")
				}
				if wins != 1 {
					t.Fatalf("%s: %d winners, want 1", key, wins)
				}
			}
		})

		t.Run("ttl: gone between TTL and TTL+margin, never before", func(t *testing.T) {
			const ttl = 2 * time.Second
			// The TTL counts from the write: after the request was sent, and
			// perhaps well before its answer arrives on a loaded machine.
			locked := time.Now()
			_, err := c.Lock(ctxT(t), lockReq("ttl", "o1", "", models.TypeCode_LOCK, int64(ttl/time.Second)))
			mustOK(t, err)
			for {
				_, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: "ttl"})
				elapsed := time.Since(locked)
				if err != nil {
					wantStatus(t, err, codes.NotFound, "resource-not-found")
					t.Logf("%s: lock with TTL %s gone %s after the Lock was sent", driver, ttl, elapsed)
					// Never before TTL (the Lock took effect after it was sent).
					if elapsed < ttl {
						t.Fatalf("gone after %s, before the TTL", elapsed)
					}
					break
				}
				// Spec: TTL+250 ms; the margin is for a loaded CI machine.
				if elapsed > ttl+2*time.Second {
					t.Fatalf("still there %s after the Lock", elapsed)
				}
				time.Sleep(20 * time.Millisecond)
			}
			_, err = c.Lock(ctxT(t), lockReq("ttl", "o2", "", models.TypeCode_LOCK, 30))
			mustOK(t, err)
		})

		t.Run("ttl: a lock renewed in time never disappears", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("kept", "o1", "", models.TypeCode_PRESENCE, 1))
			mustOK(t, err)
			end := time.Now().Add(4 * time.Second)
			for time.Now().Before(end) {
				time.Sleep(300 * time.Millisecond)
				_, err := c.Lock(ctxT(t), lockReq("kept", "o1", "", models.TypeCode_PRESENCE, 1))
				mustOK(t, err)
				fetch(t, c, "kept")
			}
		})
	})
}
