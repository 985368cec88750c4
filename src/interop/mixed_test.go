package interop

import (
	"context"
	"strings"
	"testing"
	"time"

	upstreammodels "code.cloudfoundry.org/locket/models"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/interop/upstream"
)

// TestMixedVersionsShareOneDatabase runs upstream's server and ours on one
// database, as during a rolling swap, and checks the storage contract: no
// lock renewed in time disappears, whichever server took the renewals, and
// abandoned locks still expire.
func TestMixedVersionsShareOneDatabase(t *testing.T) {
	forEachSQLDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		// Upstream first: ours must work on a table upstream created.
		up := upstream.Start(t, db, certs)
		ours := testenv.StartServer(t, db, certs)
		viaUp := upstreamClient(t, up.Address, certs)
		viaOurs := upstreamClient(t, ours.Address, certs)
		ctx := context.Background()
		const ttl = 3

		lockVia := func(c upstreammodels.LocketClient, key, owner string) error {
			_, err := c.Lock(ctx, &upstreammodels.LockRequest{Resource: lockResource(key, owner), TtlInSeconds: ttl})
			return err
		}
		// Before the acquisitions are sent: no deadline can count from
		// earlier, so "removed before its TTL" measured from here is a real
		// early expiry, however long an answer took to arrive.
		abandonedAt := time.Now()
		for _, k := range []string{"renewed-upstream", "renewed-ours", "renewed-alternately", "abandoned-upstream", "abandoned-ours"} {
			c := viaOurs
			if strings.HasSuffix(k, "upstream") || k == "renewed-alternately" {
				c = viaUp
			}
			if err := lockVia(c, k, "owner-"+k); err != nil {
				t.Fatalf("acquire %s: %v", k, err)
			}
		}

		// Renew three keys every second for more than 3 TTLs.
		gone := map[string]time.Duration{}
		for i := 0; time.Since(abandonedAt) < 4*ttl*time.Second; i++ {
			time.Sleep(time.Second)
			renewals := map[string]upstreammodels.LocketClient{
				"renewed-upstream": viaUp, "renewed-ours": viaOurs, "renewed-alternately": viaUp,
			}
			if i%2 == 1 {
				renewals["renewed-alternately"] = viaOurs
			}
			for k, c := range renewals {
				if err := lockVia(c, k, "owner-"+k); err != nil {
					t.Fatalf("renewal %d of %s: %v", i, k, err)
				}
			}
			for _, k := range []string{"abandoned-upstream", "abandoned-ours"} {
				if _, seen := gone[k]; seen {
					continue
				}
				if _, err := viaOurs.Fetch(ctx, &upstreammodels.FetchRequest{Key: k}); err != nil {
					gone[k] = time.Since(abandonedAt)
				}
			}
		}
		for _, k := range []string{"renewed-upstream", "renewed-ours", "renewed-alternately"} {
			for name, c := range map[string]upstreammodels.LocketClient{"upstream": viaUp, "ours": viaOurs} {
				got, err := c.Fetch(ctx, &upstreammodels.FetchRequest{Key: k})
				if err != nil || got.Resource.Owner != "owner-"+k {
					t.Errorf("%s through %s after renewals = %v, %v", k, name, got, err)
				}
			}
		}
		// Abandoned: gone after TTL; through upstream's own timers or poller
		// it may take up to TTL + 5 s, through ours TTL + one adoption scan.
		for _, k := range []string{"abandoned-upstream", "abandoned-ours"} {
			d, ok := gone[k]
			if !ok {
				t.Errorf("%s was never removed (checked for %v)", k, 4*ttl*time.Second)
				continue
			}
			if d < ttl*time.Second {
				t.Errorf("%s removed after %v, before its TTL", k, d)
			}
			t.Logf("%s removed %v after its last renewal (TTL %ds)", k, d.Round(10*time.Millisecond), ttl)
		}
		for _, l := range ours.Lines() {
			if strings.Contains(l, `"level":"error"`) {
				t.Errorf("our server logged an error during a mixed-version run: %s", l)
			}
		}
	})
}

// TestRollingSwapKeepsTheLock replaces servers one at a time, upstream to
// ours and back, while a holder renews through whichever server is up, as a
// BOSH deploy of the locket instance group would.
func TestRollingSwapKeepsTheLock(t *testing.T) {
	db := testenv.NewDatabase(t, "mysql")
	certs := testenv.NewCerts(t)
	ctx := context.Background()
	const ttl = 4

	type step struct {
		name  string
		start func() (string, func())
	}
	startUp := func() (string, func()) { s := upstream.Start(t, db, certs); return s.Address, s.Stop }
	startOurs := func() (string, func()) {
		s := testenv.StartServer(t, db, certs)
		return s.Address, func() { s.Stop() }
	}
	steps := []step{{"upstream", startUp}, {"ours", startOurs}, {"upstream", startUp}, {"ours", startOurs}}

	addr, stop := steps[0].start()
	holder := upstreamClient(t, addr, certs)
	presence := &upstreammodels.Resource{Key: "cell-1", Owner: "rep-1", Value: "{}", TypeCode: upstreammodels.PRESENCE}
	renew := func(c upstreammodels.LocketClient) {
		t.Helper()
		for _, r := range []*upstreammodels.Resource{lockResource("bbs", "vm-1"), presence} {
			if _, err := c.Lock(ctx, &upstreammodels.LockRequest{Resource: r, TtlInSeconds: ttl}); err != nil {
				t.Fatalf("renewal of %s: %v", r.Key, err)
			}
		}
	}
	renew(holder)
	for _, next := range steps[1:] {
		// The next server comes up beside the old one, takes the renewals,
		// then the old one stops: a canary update.
		nextAddr, nextStop := next.start()
		nextClient := upstreamClient(t, nextAddr, certs)
		for i := 0; i < 3; i++ {
			time.Sleep(time.Second)
			renew(nextClient)
		}
		stop()
		stop = nextStop
		for i := 0; i < ttl+2; i++ {
			time.Sleep(time.Second)
			renew(nextClient)
		}
		for _, k := range []string{"bbs", "cell-1"} {
			if _, err := nextClient.Fetch(ctx, &upstreammodels.FetchRequest{Key: k}); err != nil {
				t.Fatalf("after swapping to %s: %s lost: %v", next.name, k, err)
			}
		}
		t.Logf("swapped to %s: lock and presence kept", next.name)
	}
	stop()
}
