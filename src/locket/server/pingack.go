package server

import (
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// ackHold is how long a PING ACK may wait for an answer to ride with. It is
// above a loaded server's usual answer time (a few milliseconds) and far
// below any client's keepalive timeout (seconds).
const ackHold = 20 * time.Millisecond

// pingAckCreds hands grpc connections whose PING ACKs ride with the next
// answer (pingAckConn).
type pingAckCreds struct {
	credentials.TransportCredentials
}

func (c pingAckCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, info, err
	}
	return &pingAckConn{Conn: conn, hold: ackHold}, info, nil
}

func (c pingAckCreds) Clone() credentials.TransportCredentials {
	return pingAckCreds{c.TransportCredentials.Clone()}
}

// pingAckConn holds back a write that is one whole PING ACK frame and
// sends it with the next write, in the same system call, or alone once it
// has waited hold.
//
// Why: upstream's client keeps grpc's bandwidth estimator on, so it pings
// after every answer it reads, and grpc's server writes each ACK at once,
// alone, a moment before it writes the next answer. Under load that was
// nearly half of the server's socket writes, and a read and a wake-up in the
// client per request. The ACK goes behind the next write when that write
// ends on a frame boundary (grpc's writes need not): the client then reads
// the answer while its ping is still out, so it does not ping again for that
// answer, and pings after every other answer instead of every one. Otherwise
// it goes in front, where it was. No frame is cut or changed.
type pingAckConn struct {
	net.Conn
	hold time.Duration // ackHold

	mu     sync.Mutex
	frames frameCursor
	held   []byte // the held ACK frame; empty when none
	buf    []byte // the ACK and the next write: at most grpc's write buffer (32 KiB) more
	timer  *time.Timer
}

// pingAckLen is the length of a PING frame: a 9-byte header, 8 bytes of data.
const pingAckLen = 9 + 8

// isPingAck reports whether b is exactly one HTTP/2 PING frame with the ACK
// flag (RFC 9113, 6.7): length 8, type 0x6, flags 0x1, stream 0.
func isPingAck(b []byte) bool {
	return len(b) == pingAckLen &&
		b[0] == 0 && b[1] == 0 && b[2] == 8 && // length
		b[3] == 0x6 && b[4]&0x1 != 0 && // PING, ACK
		b[5]&0x7f == 0 && b[6] == 0 && b[7] == 0 && b[8] == 0 // stream 0
}

func (c *pingAckConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 {
		if !c.frames.atBoundary() || !isPingAck(b) {
			c.frames.skip(b)
			return c.Conn.Write(b)
		}
		c.held = append(c.held, b...)
		if c.timer == nil {
			c.timer = time.AfterFunc(c.hold, c.flushHeld)
		} else {
			c.timer.Reset(c.hold)
		}
		return len(b), nil
	}
	c.timer.Stop()
	// Behind b when b ends on a frame boundary, so that the client reads
	// the answer before the ACK; in front of it otherwise, where it was.
	c.frames.skip(b)
	front := 0 // bytes of the ACK in front of b
	if c.frames.atBoundary() {
		c.buf = append(append(c.buf[:0], b...), c.held...)
	} else {
		c.buf = append(append(c.buf[:0], c.held...), b...)
		front = len(c.held)
	}
	c.held = c.held[:0]
	n, err := c.Conn.Write(c.buf)
	return min(max(n-front, 0), len(b)), err
}

// frameCursor follows HTTP/2 frame boundaries through the bytes written.
type frameCursor struct {
	rest int     // payload bytes left in the current frame
	hdr  [9]byte // a frame header cut by the end of a write
	hdrN int
}

func (f *frameCursor) atBoundary() bool { return f.rest == 0 && f.hdrN == 0 }

func (f *frameCursor) skip(b []byte) {
	for len(b) > 0 {
		if f.rest > 0 {
			k := min(f.rest, len(b))
			f.rest -= k
			b = b[k:]
			continue
		}
		k := copy(f.hdr[f.hdrN:], b)
		f.hdrN += k
		b = b[k:]
		if f.hdrN == len(f.hdr) {
			f.rest = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
			f.hdrN = 0
		}
	}
}

// flushHeld sends a held ACK that no answer came to carry. A write error
// is left to the connection's next read or write, as grpc would meet it.
func (c *pingAckConn) flushHeld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 {
		return
	}
	_, _ = c.Conn.Write(c.held)
	c.held = c.held[:0]
}

// Close closes the connection before it takes the lock: grpc closes a
// connection to end a write that is stuck on a peer that stopped reading.
func (c *pingAckConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.held = c.held[:0]
	return err
}
