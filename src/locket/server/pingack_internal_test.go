package server

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func pingAck(data byte) []byte {
	return []byte{0, 0, 8, 0x6, 0x1, 0, 0, 0, 0, data, 2, 3, 4, 5, 6, 7, 8}
}

// readN reads exactly n bytes, or fails the test after 10 s.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func TestIsPingAck(t *testing.T) {
	ping := pingAck(1)
	ping[4] = 0 // a PING that asks for an ACK
	settingsAck := []byte{0, 0, 0, 0x4, 0x1, 0, 0, 0, 0}
	onStream := pingAck(1)
	onStream[8] = 1
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"PING ACK", pingAck(1), true},
		{"PING", ping, false},
		{"SETTINGS ACK", settingsAck, false},
		{"PING ACK on a stream", onStream, false},
		{"PING ACK and more", append(pingAck(1), settingsAck...), false},
		{"part of a PING ACK", pingAck(1)[:9], false},
	} {
		if got := isPingAck(c.b); got != c.want {
			t.Errorf("%s: isPingAck = %v, want %v", c.name, got, c.want)
		}
	}
}

// frames returns HTTP/2 frames as grpc's framer writes them: a DATA frame
// with n payload bytes on stream 1, or a PING ACK when n < 0.
func frames(t *testing.T, sizes ...int) []byte {
	t.Helper()
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	fr.SetMaxReadFrameSize(1 << 24)
	for i, n := range sizes {
		var err error
		if n < 0 {
			err = fr.WritePing(true, [8]byte{byte(i)})
		} else {
			err = fr.WriteData(1, false, bytes.Repeat([]byte{byte(i)}, n))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// A whole ACK waits for the next write and goes out behind it when that
// write ends a frame, in front of it when it does not; other writes go out
// as they come.
func TestPingAckRidesWithTheNextWrite(t *testing.T) {
	srv, cli := tcpPair(t)
	c := &pingAckConn{Conn: srv, hold: time.Hour}

	answer := frames(t, 100, 30)
	mustWrite(t, c, answer)
	if got := readN(t, cli, len(answer)); !bytes.Equal(got, answer) {
		t.Fatal("a write that is no PING ACK was changed")
	}

	mustWrite(t, c, pingAck(1))
	mustWrite(t, c, answer)
	want := append(bytes.Clone(answer), pingAck(1)...)
	if got := readN(t, cli, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %x, want the answer, then the ACK", got)
	}

	// A write that ends inside a frame: the ACK goes in front of it.
	var buf bytes.Buffer
	if err := http2.NewFramer(&buf, nil).WriteData(1, false, append(bytes.Repeat([]byte{7}, 50), pingAck(9)...)); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()
	cut := len(frame) - pingAckLen
	mustWrite(t, c, pingAck(2))
	mustWrite(t, c, frame[:cut])
	want = append(pingAck(2), frame[:cut]...)
	if got := readN(t, cli, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %x, want the ACK, then the part of the frame", got)
	}
	// The rest of that frame is an ACK's bytes, but inside a frame: it goes
	// out at once. Then whole ACKs are held again.
	mustWrite(t, c, frame[cut:])
	if got := readN(t, cli, pingAckLen); !bytes.Equal(got, frame[cut:]) {
		t.Fatalf("read %x, want the rest of the frame", got)
	}
	mustWrite(t, c, pingAck(3)) // held
	mustWrite(t, c, pingAck(4)) // takes the held one along, behind it
	want = append(pingAck(4), pingAck(3)...)
	if got := readN(t, cli, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %x, want both ACKs", got)
	}
}

// Whatever the cuts between grpc's writes, the client reads every frame
// whole: the DATA frames in their order, and every ACK.
func TestPingAckKeepsFramesWhole(t *testing.T) {
	srv, cli := tcpPair(t)
	c := &pingAckConn{Conn: srv, hold: time.Hour}
	rng := rand.New(rand.NewPCG(1, 2))
	var sizes, wantData []int
	acks := 0
	for range 400 {
		n := -1
		switch rng.IntN(3) {
		case 0:
			acks++
		case 1:
			n = rng.IntN(20)
		default:
			n = rng.IntN(40 << 10)
		}
		sizes = append(sizes, n)
		if n >= 0 {
			wantData = append(wantData, n)
		}
	}

	type result struct {
		data []int
		acks int
		err  error
	}
	read := make(chan result, 1)
	go func() {
		fr := http2.NewFramer(nil, cli)
		fr.SetMaxReadFrameSize(1 << 24)
		var r result
		for len(r.data)+r.acks < len(sizes)+1 && r.err == nil { // and the last, empty DATA frame
			var f http2.Frame
			if f, r.err = fr.ReadFrame(); r.err != nil {
				break
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				r.acks++
			case *http2.DataFrame:
				r.data = append(r.data, len(f.Data()))
			}
		}
		read <- r
	}()
	// Writes as grpc makes them: mostly whole frames, one or more; some cut
	// inside a frame (its write buffer filled); an ACK often alone.
	var pending []byte
	for i, n := range sizes {
		f := frames(t, n)
		if n >= 0 && rng.IntN(3) == 0 {
			cut := rng.IntN(len(f))
			mustWrite(t, c, append(pending, f[:cut]...))
			pending, f = nil, f[cut:]
		}
		pending = append(pending, f...)
		if rng.IntN(2) == 0 || i == len(sizes)-1 {
			mustWrite(t, c, pending)
			pending = nil
		}
	}
	mustWrite(t, c, frames(t, 0)) // takes a last held ACK along
	wantData = append(wantData, 0)
	select {
	case r := <-read:
		if r.err != nil {
			t.Fatalf("after %d DATA frames and %d ACKs: %v", len(r.data), r.acks, r.err)
		}
		if !slices.Equal(r.data, wantData) || r.acks != acks {
			t.Fatalf("read %d DATA frames and %d ACKs, want %d in the same order and %d", len(r.data), r.acks, len(wantData), acks)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not read every frame")
	}
}

// An ACK that no write comes to carry goes out by itself.
func TestPingAckGoesAloneWhenNothingFollows(t *testing.T) {
	srv, cli := tcpPair(t)
	c := &pingAckConn{Conn: srv, hold: 10 * time.Millisecond}
	for i := range 3 {
		mustWrite(t, c, pingAck(byte(i)))
		if got := readN(t, cli, pingAckLen); !bytes.Equal(got, pingAck(byte(i))) {
			t.Fatalf("ACK %d: read %q", i, got)
		}
	}
}

// Close must not wait for a write stuck on a peer that does not read: grpc
// closes the connection to end such a write.
func TestPingAckConnCloseEndsAStuckWrite(t *testing.T) {
	srv, _ := tcpPair(t)
	c := &pingAckConn{Conn: srv, hold: time.Hour}
	mustWrite(t, c, pingAck(1))
	done := make(chan error, 1)
	go func() {
		big := make([]byte, 64<<20) // more than the socket buffers hold
		_, err := c.Write(big)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the write fill the buffers
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for _, ch := range []chan error{closed, done} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end the stuck write")
		}
	}
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if n, err := c.Write(b); n != len(b) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
}
