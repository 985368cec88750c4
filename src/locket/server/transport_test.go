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
	db := testenv.NewDatabase(t, "sqlite")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs)

	cfg := clientTLS(t, certs, certs.ClientCertFile, certs.ClientKey)
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", srv.Address, cfg)
	mustOK(t, err)
	defer conn.Close()
	mustOK(t, conn.SetDeadline(time.Now().Add(10*time.Second)))

	_, err = conn.Write([]byte(http2.ClientPreface))
	mustOK(t, err)
	fr := http2.NewFramer(conn, conn)
	mustOK(t, fr.WriteSettings())

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range 3 {
		stream := uint32(2*i + 1)
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

		for answered := false; !answered; {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("request %d: reading the answer: %v", i+1, err)
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if !f.IsAck() {
					t.Fatalf("request %d: the server pinged the client (grpc's bandwidth-delay estimator is on)", i+1)
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					mustOK(t, fr.WriteSettingsAck())
				}
			case *http2.GoAwayFrame:
				t.Fatalf("request %d: GOAWAY %v", i+1, f.ErrCode)
			case *http2.RSTStreamFrame:
				t.Fatalf("request %d: stream reset: %v", i+1, f.ErrCode)
			case *http2.HeadersFrame:
				answered = f.StreamID == stream && f.StreamEnded()
			case *http2.DataFrame:
				answered = f.StreamID == stream && f.StreamEnded()
			}
		}
	}
}
