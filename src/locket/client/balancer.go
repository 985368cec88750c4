package client

import (
	"math/rand/v2"
	"slices"
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// balancerName selects the sticky failover policy in the service config.
const balancerName = "locket_sticky_failover"

// Why a policy of our own (docs/client-programs.md, "Failover"):
//
// locket_address is a DNS name with one address per Locket server. With
// gRPC's default pick_first the client talks to one server over one
// connection; when that server's VM vanishes without closing its TCP
// connections, every call hangs on the dead connection until keepalive gives
// up (10 s + 22 s in a foundation): diego-release issues 406 and 627.
// round_robin keeps every server connected but sends every other call to the
// dead one for as long as its connection looks alive.
//
// This policy keeps a connection to every address the name resolves to (the
// base balancer connects all of them and reconnects with backoff), sends all
// calls to one of them, and moves to the next ready one as soon as a call to
// the current one fails with Unavailable or DeadlineExceeded, or another
// server answers a call first. With failoverInterceptor, a call that gets no
// answer within the failover delay also asks a server it has not tried, over
// an already established connection, and the first answer wins.
func init() {
	balancer.Register(stickyBuilder{})
}

type stickyBuilder struct{}

func (stickyBuilder) Name() string { return balancerName }

// Build gives every ClientConn its own picker state, so that which server is
// current survives picker rebuilds without being shared between connections.
func (stickyBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	pb := &stickyPickerBuilder{}
	return base.NewBalancerBuilder(balancerName, pb, base.Config{}).Build(cc, opts)
}

// stickyPickerBuilder remembers the current server's address across pickers.
type stickyPickerBuilder struct {
	mu      sync.Mutex
	current string // address of the server in use; "" before the first pick
}

type readyConn struct {
	addr string
	sc   balancer.SubConn
}

func (b *stickyPickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	conns := make([]readyConn, 0, len(info.ReadySCs))
	for sc, i := range info.ReadySCs {
		conns = append(conns, readyConn{addr: i.Address.Addr, sc: sc})
	}
	// A stable order, so that "next" means the same thing in every picker.
	slices.SortFunc(conns, func(a, c readyConn) int {
		switch {
		case a.addr < c.addr:
			return -1
		case a.addr > c.addr:
			return 1
		}
		return 0
	})
	return &stickyPicker{b: b, conns: conns}
}

type stickyPicker struct {
	b     *stickyPickerBuilder
	conns []readyConn // sorted by address, at least one
}

func (p *stickyPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	p.b.mu.Lock()
	i := p.indexLocked()
	p.b.current = p.conns[i].addr
	p.b.mu.Unlock()

	// Another attempt of a call that is already waiting on (or failed on)
	// the current server goes to the next server the call has not tried.
	if info.Ctx != nil {
		if cs := callStateFrom(info.Ctx); cs != nil {
			for j := range len(p.conns) {
				if k := (i + j) % len(p.conns); !cs.wasTried(p.conns[k].addr) {
					i = k
					break
				}
			}
			cs.markTried(p.conns[i].addr)
		}
	}

	addr := p.conns[i].addr
	return balancer.PickResult{
		SubConn: p.conns[i].sc,
		Done: func(di balancer.DoneInfo) {
			p.b.mu.Lock()
			defer p.b.mu.Unlock()
			switch {
			case di.Err == nil && p.b.current != addr:
				// This server answered while the current one did not
				// (yet): use it from now on.
				p.b.current = addr
			case serverFailure(di.Err) && p.b.current == addr:
				p.b.current = p.conns[(i+1)%len(p.conns)].addr
			}
		},
	}, nil
}

// indexLocked returns the ready connection to use: the current server if it
// is ready, else the first ready one after it in address order, else (first
// pick) a random one, so that clients spread over the servers.
func (p *stickyPicker) indexLocked() int {
	cur := p.b.current
	if cur == "" {
		return rand.IntN(len(p.conns))
	}
	for i, c := range p.conns {
		if c.addr >= cur {
			return i
		}
	}
	return 0
}

// serverFailure reports whether a call's error says the server (or the way
// to it) is not working, as opposed to an answer such as lock-collision or a
// cancellation by the caller.
func serverFailure(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}
