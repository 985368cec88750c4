package store

import (
	"bufio"
	"context"
	"errors"
	"net"
	"syscall"
)

// mysqlReadBuffer is the size of the read buffer under each MySQL
// connection. The driver reads into its own 4 KiB buffer, one system call
// per 4 KiB: reading 10,000 presences (about 4 MB) for FetchAll took about
// 1,000 reads, 17% of the server's CPU under FetchAll load
// (docs/benchmarks.md). A small answer still costs one read.
const mysqlReadBuffer = 64 << 10

// dialMySQL dials as the driver would and reads through a buffer.
func dialMySQL(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, mysqlReadBuffer)}, nil
}

// bufferedConn is a connection read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// SyscallConn is what the driver's liveness check uses to peek at an idle
// socket, so that a connection the database closed is noticed before it
// is reused (TestKilledIdleConnection). Nothing is left in the buffer
// between statements: the driver reads every answer to its end.
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("mysql connection: no system call access")
	}
	return sc.SyscallConn()
}
