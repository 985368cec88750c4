package server_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/locket-release/locket/internal/testenv"
)

// TestNoPingPerRequest speaks HTTP/2 to the server by hand and reads every
// frame it sends while answering a few requests on one connection. The
// server must not ping: grpc's bandwidth-delay estimator, on by default,
// pings after each request it reads, which costs a write and a read per
// request on connections that carry one small request at a time.
func TestNoPingPerRequest(t *testing.T) {
	fr, writeRequest := dialHTTP2(t)
	for i := range 3 {
		stream := uint32(2*i + 1)
		writeRequest(stream)
		for answered := false; !answered; {
			f := readFrame(t, fr, i+1)
			switch f := f.(type) {
			case *http2.PingFrame:
				if !f.IsAck() {
					t.Fatalf("request %d: the server pinged the client (grpc's bandwidth-delay estimator is on)", i+1)
				}
			case *http2.HeadersFrame:
				answered = f.StreamID == stream && f.StreamEnded()
			case *http2.DataFrame:
				answered = f.StreamID == stream && f.StreamEnded()
			}
		}
	}
}

// TestPingAckWaitsForTheAnswer pings the server as upstream's client does
// (grpc's estimator pings after each answer it reads). The server holds the
// ACK back for the next answer to carry (server/pingack.go): a ping with no
// request behind it is answered only after the hold (20 ms), and a ping with
// a request behind it gets both its ACK and the answer.
func TestPingAckWaitsForTheAnswer(t *testing.T) {
	fr, writeRequest := dialHTTP2(t)
	// readUntil reads until the answer on stream (none: 0) and the ACK of
	// the ping (none: nil) have come.
	readUntil := func(request int, stream uint32, ping *[8]byte) {
		t.Helper()
		answered, acked := stream == 0, ping == nil
		for !answered || !acked {
			switch f := readFrame(t, fr, request).(type) {
			case *http2.PingFrame:
				acked = acked || f.IsAck() && f.Data == *ping
			case *http2.HeadersFrame:
				answered = answered || f.StreamID == stream && f.StreamEnded()
			case *http2.DataFrame:
				answered = answered || f.StreamID == stream && f.StreamEnded()
			}
		}
	}

	writeRequest(1) // settings are exchanged by the end of the first answer
	readUntil(1, 1, nil)

	data := [8]byte{2}
	sent := time.Now()
	mustOK(t, fr.WritePing(false, data))
	readUntil(2, 0, &data)
	// A lower bound only: a slow machine makes the ACK later, never earlier.
	if waited := time.Since(sent); waited < 10*time.Millisecond {
		t.Errorf("a ping with no request behind it was answered after %v: the server did not hold the ACK back", waited)
	}

	data = [8]byte{3}
	mustOK(t, fr.WritePing(false, data))
	writeRequest(3)
	readUntil(3, 3, &data)
}

// dialHTTP2 opens a mutual-TLS HTTP/2 connection to a real server and
// returns its framer and a function that sends an empty health check on a
// stream.
func dialHTTP2(t *testing.T) (*http2.Framer, func(stream uint32)) {
	t.Helper()
	db := testenv.NewDatabase(t, "sqlite")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs)

	cfg := clientTLS(t, certs, certs.ClientCertFile, certs.ClientKey)
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.Address, cfg)
	mustOK(t, err)
	t.Cleanup(func() { conn.Close() })
	mustOK(t, conn.SetDeadline(time.Now().Add(10*time.Second)))

	_, err = conn.Write([]byte(http2.ClientPreface))
	mustOK(t, err)
	fr := http2.NewFramer(conn, conn)
	mustOK(t, fr.WriteSettings())

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	return fr, func(stream uint32) {
		hb.Reset()
		for _, f := range [][2]string{
			{":method", "POST"}, {":scheme", "https"}, {":authority", testenv.ServerName},
			{":path", "/grpc.health.v1.Health/Check"},
			{"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			mustOK(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
		}
		mustOK(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndHeaders: true}))
		// An empty HealthCheckRequest: uncompressed, length 0.
		mustOK(t, fr.WriteData(stream, true, []byte{0, 0, 0, 0, 0}))
	}
}

// readFrame reads the next frame, acknowledges the server's settings and
// fails the test on a frame that ends the request or the connection.
func readFrame(t *testing.T, fr *http2.Framer, request int) http2.Frame {
	t.Helper()
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatalf("request %d: reading the answer: %v", request, err)
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			mustOK(t, fr.WriteSettingsAck())
		}
	case *http2.GoAwayFrame:
		t.Fatalf("request %d: GOAWAY %v", request, f.ErrCode)
	case *http2.RSTStreamFrame:
		t.Fatalf("request %d: stream reset: %v", request, f.ErrCode)
	}
	return f
}
