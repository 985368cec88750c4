package server

import (
	"context"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/store"
)

// fetchAllGroup shares FetchAll reads, and their encoding, between
// concurrent callers. Every BBS and auctioneer instance calls
// FetchAll(PRESENCE) on each convergence and auction; reading and encoding
// 10,000 rows per call cost most of the server's CPU under that load.
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
	// sizes: per type, the length of the last answer. The next read
	// allocates about that much at once: growing a 4 MB answer by doubling
	// (fresh pages faulted in and copied at every step) was a large part of
	// the server's CPU under FetchAll load (docs/architecture.md).
	sizes map[string]int
}

type fetchAllRead struct {
	done    chan struct{}
	encoded []byte // the answer's wire form; shared, so read-only
	err     error
}

// do returns the answer of a read of typ that starts after the call. The
// read runs on its own goroutine, so that a caller that gives up leaves it
// to the others; read must therefore not depend on one caller's context.
// read gets the length of the previous answer of typ (0 for the first).
func (g *fetchAllGroup) do(ctx context.Context, typ string, read func(sizeHint int) ([]byte, error)) ([]byte, error) {
	g.mu.Lock()
	if g.pending == nil {
		g.pending = map[string]*fetchAllRead{}
		g.inFlight = map[string]chan struct{}{}
		g.sizes = map[string]int{}
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
		return r.encoded, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run starts the pending read r once the read of typ in flight has ended;
// whoever arrives until then joins r.
func (g *fetchAllGroup) run(typ string, r *fetchAllRead, read func(sizeHint int) ([]byte, error)) {
	for {
		g.mu.Lock()
		running := g.inFlight[typ]
		if running == nil {
			delete(g.pending, typ)
			ended := make(chan struct{})
			g.inFlight[typ] = ended
			hint := g.sizes[typ]
			g.mu.Unlock()
			r.encoded, r.err = read(hint)
			g.mu.Lock()
			delete(g.inFlight, typ)
			if r.err == nil {
				g.sizes[typ] = len(r.encoded)
			}
			g.mu.Unlock()
			close(ended)
			close(r.done)
			return
		}
		g.mu.Unlock()
		<-running
	}
}

// encodedFetchAll is a FetchAllResponse whose resources are already in wire
// form: protobuf writes a message's unknown fields out verbatim, so each
// caller's answer costs a copy instead of encoding 10,000 resources again.
// The bytes are exactly what the resources' encoding is (field 1, repeated).
func encodedFetchAll(b []byte) *models.FetchAllResponse {
	resp := &models.FetchAllResponse{}
	resp.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
	return resp
}

// appendResource appends one element of FetchAllResponse.resources (field
// 1): r encoded exactly as proto.Marshal encodes the Resource toResource
// builds (TestAppendResourceMatchesMarshal), straight from the driver's
// bytes, without a Resource or a string per row.
func appendResource(b []byte, r store.RawLock) ([]byte, error) {
	for _, f := range [][]byte{r.Key, r.Owner, r.Value, r.Type} {
		if !utf8.Valid(f) {
			// What proto.Marshal refuses for a proto3 string.
			return b, fmt.Errorf("lock %q: a text column is not valid UTF-8", r.Key)
		}
	}
	typeCode := uint64(models.TypeCodeOf(string(r.Type)))
	fencing, acquired, expiresMs := uint64(r.FencingToken), uint64(r.AcquiredAt), uint64(max(0, r.ExpiresIn/1000))
	size := sizeString(1, r.Key) + sizeString(2, r.Owner) + sizeString(3, r.Value) + sizeString(4, r.Type) +
		sizeVarint(5, typeCode) + sizeVarint(6, fencing) + sizeVarint(7, acquired) + sizeVarint(8, expiresMs)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendString(b, 1, r.Key)
	b = appendString(b, 2, r.Owner)
	b = appendString(b, 3, r.Value)
	b = appendString(b, 4, r.Type)
	b = appendVarint(b, 5, typeCode)
	b = appendVarint(b, 6, fencing)
	b = appendVarint(b, 7, acquired)
	b = appendVarint(b, 8, expiresMs)
	return b, nil
}

// Proto3 leaves out fields with zero values.

func sizeString(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendString(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}
