package server

import (
	"context"
	"sync"

	"github.com/locket-release/locket/models"
)

// fetchAllGroup shares FetchAll reads between concurrent callers. Every BBS
// and auctioneer instance calls FetchAll(PRESENCE) on each convergence and
// auction; reading and encoding 10,000 rows per call cost most of the
// server's CPU under that load.
//
// A caller never gets a read that started before it arrived (that read may
// miss a change the caller already saw committed): it joins the next read
// of its type, which starts when the one in flight ends. So there is at
// most one read per type in flight, and each serves everyone who arrived
// while the previous one ran. Answers stay as fresh as unshared ones.
type fetchAllGroup struct {
	mu       sync.Mutex
	pending  map[string]*fetchAllRead // per type: the read that has not started
	inFlight map[string]chan struct{} // per type: closed when the running read ends
}

type fetchAllRead struct {
	done chan struct{}
	resp *models.FetchAllResponse // shared and read-only: gRPC only marshals it
	err  error
}

// do returns the answer of a read of typ that starts after the call. The
// read runs on its own goroutine, so that a caller that gives up leaves it
// to the others; read must therefore not depend on one caller's context.
func (g *fetchAllGroup) do(ctx context.Context, typ string, read func() (*models.FetchAllResponse, error)) (*models.FetchAllResponse, error) {
	g.mu.Lock()
	if g.pending == nil {
		g.pending = map[string]*fetchAllRead{}
		g.inFlight = map[string]chan struct{}{}
	}
	r, joined := g.pending[typ]
	if !joined {
		r = &fetchAllRead{done: make(chan struct{})}
		g.pending[typ] = r
		go g.run(typ, r, read)
	}
	g.mu.Unlock()

	select {
	case <-r.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run starts the pending read r once the read of typ in flight has ended;
// whoever arrives until then joins r.
func (g *fetchAllGroup) run(typ string, r *fetchAllRead, read func() (*models.FetchAllResponse, error)) {
	for {
		g.mu.Lock()
		running := g.inFlight[typ]
		if running == nil {
			delete(g.pending, typ)
			ended := make(chan struct{})
			g.inFlight[typ] = ended
			g.mu.Unlock()
			r.resp, r.err = read()
			g.mu.Lock()
			delete(g.inFlight, typ)
			g.mu.Unlock()
			close(ended)
			close(r.done)
			return
		}
		g.mu.Unlock()
		<-running
	}
}
