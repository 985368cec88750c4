package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/store"
)

// TestFetchAllGroupNeverServesAnOlderRead: callers that arrive while a read
// runs do not get that read's answer; they share the next one, which starts
// only when the running one has ended.
func TestFetchAllGroupNeverServesAnOlderRead(t *testing.T) {
	var g fetchAllGroup
	var reads, running, maxRunning atomic.Int32
	release := make(chan struct{})
	var hints []int // guarded by the group: one read at a time
	read := func(sizeHint int) ([]byte, error) {
		hints = append(hints, sizeHint)
		n := reads.Add(1)
		if r := running.Add(1); r > maxRunning.Load() {
			maxRunning.Store(r)
		}
		defer running.Add(-1)
		if n == 1 {
			<-release // the first read runs until the others have arrived
		}
		return []byte{byte('0' + n), 'x', 'y'}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := make(chan string, 1)
	go func() {
		r, err := g.do(ctx, "presence", read)
		if err != nil {
			t.Error(err)
		}
		first <- string(r[:1])
	}()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const later = 8
	var wg sync.WaitGroup
	got := make([]string, later)
	for i := range later {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.do(ctx, "presence", read)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = string(r[:1])
		}()
	}
	// Let the later callers queue up behind the running read.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if v := <-first; v != "1" {
		t.Fatalf("first caller got read %s, want 1", v)
	}
	for i, v := range got {
		if v != "2" {
			t.Fatalf("caller %d that arrived during read 1 got read %s, want 2 (the next read, shared)", i, v)
		}
	}
	if reads.Load() != 2 || maxRunning.Load() != 1 {
		t.Fatalf("%d reads, at most %d at once; want 2 and 1", reads.Load(), maxRunning.Load())
	}
	// Each read is sized after the one before it.
	if len(hints) != 2 || hints[0] != 0 || hints[1] != 3 {
		t.Fatalf("size hints %v, want [0 3]", hints)
	}
}

// TestFetchAllGroupCallerGivesUp: a caller whose context ends stops waiting;
// the read it joined still serves the others.
func TestFetchAllGroupCallerGivesUp(t *testing.T) {
	var g fetchAllGroup
	release := make(chan struct{})
	read := func(int) ([]byte, error) {
		<-release
		return nil, nil
	}
	bg, cancelAll := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelAll()
	leader := make(chan error, 1)
	go func() {
		_, err := g.do(bg, "lock", read)
		leader <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(bg)
	follower := make(chan error, 1)
	go func() {
		_, err := g.do(ctx, "lock", read)
		follower <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-follower; err != context.Canceled {
		t.Fatalf("follower: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}
}

// TestEncodedFetchAllIsTheSameMessage: the pre-encoded answer decodes to the
// resources it was made from, with every field.
func TestEncodedFetchAllIsTheSameMessage(t *testing.T) {
	want := &models.FetchAllResponse{Resources: []*models.Resource{
		{Key: "cell-1", Owner: "rep-1", Value: `{"cell_id":"cell-1"}`, Type: "presence", TypeCode: models.TypeCode_PRESENCE,
			FencingToken: 7, AcquiredAtUnixMicros: 1795000000000000, ExpiresInMs: 14000},
		{Key: "cell-2", Owner: "rep-2", Type: "presence", TypeCode: models.TypeCode_PRESENCE},
	}}
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := proto.Marshal(encodedFetchAll(b))
	if err != nil {
		t.Fatal(err)
	}
	got := &models.FetchAllResponse{}
	if err := proto.Unmarshal(wire, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
}

// TestAppendResourceMatchesMarshal: the hand-written encoding is byte for
// byte what proto.Marshal makes of the Resource toResource builds, for
// every shape of row, and invalid UTF-8 is refused as proto.Marshal does.
func TestAppendResourceMatchesMarshal(t *testing.T) {
	rows := []store.Lock{
		{Key: "cell-1", Owner: "rep-1", Value: `{"cell_id":"cell-1","zone":"z1"}`, Type: "presence", FencingToken: 7,
			AcquiredAt: 1795000000000000, ExpiresIn: 14_999_999},
		{Key: "bbs", Owner: "bbs-0", Type: "lock"},
		{Key: "odd", Owner: "o", Type: "something-else", ExpiresIn: -5_000_000, FencingToken: 1 << 40},
		{Key: "ünïcödé ✓", Owner: "ø", Value: string(make([]byte, 300)), Type: "presence", ExpiresIn: 999},
		{Key: "k", Owner: "o", Value: "v"},
	}
	var got []byte
	want := &models.FetchAllResponse{}
	for _, l := range rows {
		var err error
		got, err = appendResource(got, store.RawLock{
			Key: []byte(l.Key), Owner: []byte(l.Owner), Value: []byte(l.Value), Type: []byte(l.Type),
			FencingToken: l.FencingToken, AcquiredAt: l.AcquiredAt, ExpiresIn: l.ExpiresIn,
		})
		if err != nil {
			t.Fatal(err)
		}
		want.Resources = append(want.Resources, toResource(l))
	}
	wantBytes, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(wantBytes) {
		t.Fatalf("encodings differ:\n got %x\nwant %x", got, wantBytes)
	}

	if _, err := appendResource(nil, store.RawLock{Key: []byte("k"), Owner: []byte("o\xff"), Type: []byte("lock")}); err == nil {
		t.Fatal("invalid UTF-8 was encoded")
	}
	if _, err := proto.Marshal(&models.Resource{Owner: "o\xff"}); err == nil {
		t.Fatal("proto.Marshal accepts invalid UTF-8: the check above is not what it does")
	}
}
