package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
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

// An ACK waits for the next write and goes out in front of it, in one
// write; other writes go out as they come.
func TestPingAckRidesWithTheNextWrite(t *testing.T) {
	srv, cli := tcpPair(t)
	c := &pingAckConn{Conn: srv, hold: time.Hour}

	answer := bytes.Repeat([]byte("answer"), 100)
	if n, err := c.Write(answer); n != len(answer) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := readN(t, cli, len(answer)); !bytes.Equal(got, answer) {
		t.Fatal("a write that is no PING ACK was changed")
	}

	if n, err := c.Write(pingAck(1)); n != pingAckLen || err != nil {
		t.Fatalf("Write(ACK) = %d, %v", n, err)
	}
	if n, err := c.Write(answer); n != len(answer) || err != nil {
		t.Fatalf("Write = %d, %v, want %d, nil (the held ACK is not counted)", n, err, len(answer))
	}
	want := append(pingAck(1), answer...)
	if got := readN(t, cli, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %q, want the ACK, then the answer", got)
	}

	// Two ACKs in a row: the second takes the first along.
	mustWrite(t, c, pingAck(1))
	mustWrite(t, c, pingAck(2))
	want = append(pingAck(1), pingAck(2)...)
	if got := readN(t, cli, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %q, want both ACKs", got)
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
