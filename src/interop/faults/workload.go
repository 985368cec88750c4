package faults

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

// Role is what a worker does.
type Role string

// The roles.
const (
	// RoleHolder competes for a lock key with other holders: Lock every
	// interval; once it holds the key it keeps it for HoldMin..HoldMax, then
	// releases it and pauses PauseMin..PauseMax (HoldMax 0: never releases).
	RoleHolder Role = "holder"
	// RolePresence keeps a presence (a rep's cell) like a holder that never
	// releases.
	RolePresence Role = "presence"
	// RoleReader Fetches Keys in turn and every fifth time FetchAlls both
	// types.
	RoleReader Role = "reader"
)

// WorkerSpec configures one worker; times are Mono ns.
type WorkerSpec struct {
	Name     string        `json:"name"`
	Role     Role          `json:"role"`
	Key      string        `json:"key,omitempty"`
	Keys     []string      `json:"keys,omitempty"`
	Owner    string        `json:"owner,omitempty"`
	Value    string        `json:"value,omitempty"`
	TTL      int64         `json:"ttl,omitempty"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
	HoldMin  time.Duration `json:"hold_min,omitempty"`
	HoldMax  time.Duration `json:"hold_max,omitempty"`
	PauseMin time.Duration `json:"pause_min,omitempty"`
	PauseMax time.Duration `json:"pause_max,omitempty"`
	// StartAt delays the first request; StopAt ends the worker without a
	// release (an abandoned lock), recorded as a MarkAbandon.
	StartAt int64 `json:"start_at,omitempty"`
	StopAt  int64 `json:"stop_at,omitempty"`
}

// AgentSpec configures an agent process.
type AgentSpec struct {
	Name     string       `json:"name"`
	Addrs    []string     `json:"addrs"` // server addresses as the agent reaches them
	CAFile   string       `json:"ca_file"`
	CertFile string       `json:"cert_file"`
	KeyFile  string       `json:"key_file"`
	Workers  []WorkerSpec `json:"workers"`
}

// dial connects like a foundation's client: one connection per component to
// one of the servers (pick_first over every address, shuffled), mutual TLS
// checking the server name a foundation uses.
func dial(spec AgentSpec) (*grpc.ClientConn, error) {
	tc, err := tlsconfig.Client(spec.CertFile, spec.KeyFile, spec.CAFile, testenv.ServerName, false)
	if err != nil {
		return nil, err
	}
	r := manual.NewBuilderWithScheme("lkf")
	var addrs []resolver.Address
	for _, a := range spec.Addrs {
		addrs = append(addrs, resolver.Address{Addr: a})
	}
	r.InitialState(resolver.State{Addresses: addrs})
	return grpc.NewClient(r.Scheme()+":///locket",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"pick_first":{"shuffleAddressList":true}}]}`),
		// gRPC's default reconnect backoff grows to 120 s: after an outage
		// the suite would measure that instead of the servers.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	)
}

// worker runs one WorkerSpec and records what it does.
type worker struct {
	spec   WorkerSpec
	client models.LocketClient
	rec    *Recorder
	rnd    *mrand.Rand
}

func (w *worker) run(ctx context.Context) {
	if w.spec.StartAt != 0 && !sleepUntil(ctx.Done(), w.spec.StartAt) {
		return
	}
	switch w.spec.Role {
	case RoleHolder, RolePresence:
		w.hold(ctx)
	case RoleReader:
		w.read(ctx)
	}
}

func (w *worker) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rnd.Int64N(int64(hi-lo)))
}

func (w *worker) hold(ctx context.Context) {
	typ := models.TypeCode_LOCK
	if w.spec.Role == RolePresence {
		typ = models.TypeCode_PRESENCE
	}
	holding := false
	var holdUntil, lastBegin int64
	var fence Op // the Lock that first answered the current token
	next := Mono()
	for {
		// The fenced workload: while it holds, a holder writes its token
		// midway between renewals, so a holder resumed after a pause
		// writes before it learns it lost the lock.
		if holding && fence.Token != 0 && w.spec.Role == RoleHolder {
			if !sleepUntil(ctx.Done(), lastBegin+int64(w.spec.Interval/2)) {
				return
			}
			w.write(fence)
		}
		if !sleepUntil(ctx.Done(), next) {
			return
		}
		if w.spec.StopAt != 0 && Mono() >= w.spec.StopAt {
			w.rec.Mark(Mark{Worker: w.spec.Name, Kind: MarkAbandon, Key: w.spec.Key, Owner: w.spec.Owner, At: Mono()})
			return
		}
		begin := Mono()
		lastBegin = begin
		op := w.lock(ctx, typ)
		if op.Outcome == OK {
			if !holding || op.Token != fence.Token {
				fence = op
			}
			if !holding {
				holding = true
				holdUntil = Mono() + int64(w.between(w.spec.HoldMin, w.spec.HoldMax))
			}
			if fence.Token != 0 && w.spec.Role == RoleHolder {
				w.write(fence)
			}
		} else {
			holding = false
		}
		if holding && w.spec.HoldMax > 0 && Mono() >= holdUntil {
			w.release(ctx, typ)
			holding = false
			next = Mono() + int64(w.between(w.spec.PauseMin, w.spec.PauseMax))
			continue
		}
		next = begin + int64(w.spec.Interval)
	}
}

// write records a write of the holder's token to the fenced register (the
// checker replays them; see checkStaleWrites).
func (w *worker) write(fence Op) {
	op := w.rec.Invoke(Op{Worker: w.spec.Name, Kind: OpWrite, Key: w.spec.Key, Owner: w.spec.Owner,
		Token: fence.Token, AcquiredStart: fence.Start, AcquiredEnd: fence.End})
	op.End, op.Outcome = op.Start, OK
	w.rec.Complete(op)
}

func (w *worker) read(ctx context.Context) {
	next := Mono()
	for i := 0; ; i++ {
		if !sleepUntil(ctx.Done(), next) {
			return
		}
		next = Mono() + int64(w.spec.Interval)
		if i%5 == 4 {
			w.fetchAll(ctx, models.TypeCode_PRESENCE)
			w.fetchAll(ctx, models.TypeCode_LOCK)
			continue
		}
		if len(w.spec.Keys) > 0 {
			w.fetch(ctx, w.spec.Keys[w.rnd.IntN(len(w.spec.Keys))])
		}
	}
}

// call runs one RPC with the worker's timeout, as the upstream runners do:
// a fresh request id in metadata "uuid" and wait-for-ready, so that a call
// made while the connection reconnects waits for it (up to the deadline)
// instead of failing at once. fill, if not nil, adds what a successful
// answer said to the record.
func (w *worker) call(ctx context.Context, op Op, f func(context.Context, ...grpc.CallOption) error, fill func(*Op)) Op {
	op.Worker = w.spec.Name
	op = w.rec.Invoke(op)
	cctx, cancel := context.WithTimeout(ctx, w.spec.Timeout)
	defer cancel()
	cctx = metadata.AppendToOutgoingContext(cctx, "uuid", newUUID())
	var p peer.Peer
	err := f(cctx, grpc.WaitForReady(true), grpc.Peer(&p))
	op.End = Mono()
	if p.Addr != nil {
		op.Peer = p.Addr.String()
	}
	st, _ := status.FromError(err)
	switch {
	case err == nil:
		op.Outcome = OK
		if fill != nil {
			fill(&op)
		}
	case ctx.Err() != nil:
		// The agent is shutting down: the effect is unknown and nobody is
		// to blame. Left without a completion.
		return op
	case st.Code() == codes.AlreadyExists:
		op.Outcome = Collision
	case st.Code() == codes.NotFound && st.Message() == "resource-not-found":
		op.Outcome = NotFound
	default:
		op.Outcome, op.Code = Fail, st.Code().String()
	}
	w.rec.Complete(op)
	return op
}

func (w *worker) resource(typ models.TypeCode) *models.Resource {
	return &models.Resource{Key: w.spec.Key, Owner: w.spec.Owner, Value: w.spec.Value, TypeCode: typ}
}

func (w *worker) lock(ctx context.Context, typ models.TypeCode) Op {
	op := Op{Kind: OpLock, Key: w.spec.Key, Owner: w.spec.Owner, Type: models.TypeString(typ), TTL: w.spec.TTL}
	var resp *models.LockResponse
	return w.call(ctx, op, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		resp, err = w.client.Lock(ctx, &models.LockRequest{Resource: w.resource(typ), TtlInSeconds: w.spec.TTL}, opts...)
		return err
	}, func(op *Op) { op.Token = FencingToken(resp) })
}

func (w *worker) release(ctx context.Context, typ models.TypeCode) Op {
	op := Op{Kind: OpRelease, Key: w.spec.Key, Owner: w.spec.Owner, Type: models.TypeString(typ)}
	return w.call(ctx, op, func(ctx context.Context, opts ...grpc.CallOption) error {
		_, err := w.client.Release(ctx, &models.ReleaseRequest{Resource: w.resource(typ)}, opts...)
		return err
	}, nil)
}

func (w *worker) fetch(ctx context.Context, key string) Op {
	var resp *models.FetchResponse
	return w.call(ctx, Op{Kind: OpFetch, Key: key}, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		resp, err = w.client.Fetch(ctx, &models.FetchRequest{Key: key}, opts...)
		return err
	}, func(op *Op) { op.Seen = resp.GetResource().GetOwner() })
}

func (w *worker) fetchAll(ctx context.Context, typ models.TypeCode) Op {
	var resp *models.FetchAllResponse
	return w.call(ctx, Op{Kind: OpFetchAll, Type: models.TypeString(typ)}, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		resp, err = w.client.FetchAll(ctx, &models.FetchAllRequest{TypeCode: typ}, opts...)
		return err
	}, func(op *Op) {
		op.SeenAll = map[string]string{}
		for _, r := range resp.GetResources() {
			op.SeenAll[r.GetKey()] = r.GetOwner()
		}
	})
}

// FencingToken returns the fencing token of a Lock answer, or 0 when the
// server sent none. The field is looked up by name so that the fenced checks
// start working as soon as LockResponse gains a fencing_token field, and
// stay off against servers (upstream) that do not send one.
func FencingToken(m proto.Message) uint64 {
	if m == nil {
		return 0
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName("fencing_token")
	if fd == nil || !msg.Has(fd) {
		return 0
	}
	v := msg.Get(fd)
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if v.Int() > 0 {
			return uint64(v.Int())
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return v.Uint()
	}
	return 0
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
