package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

// handshake dials the server with cfg and speaks a little HTTP/2, so that a
// client certificate refused after a TLS 1.3 handshake shows up as an error.
// It returns the connection state on success.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 9)
	if _, err := conn.Read(buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

func clientTLS(t *testing.T, certs *testenv.Certs, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Client(certFile, keyFile, certs.CAFile, testenv.ServerName, false)
	mustOK(t, err)
	return cfg
}

func TestMutualTLS(t *testing.T) {
	db := testenv.NewDatabase(t, "sqlite")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs)

	good := clientTLS(t, certs, certs.ClientCertFile, certs.ClientKey)
	other := testenv.NewCerts(t)
	expiredCert, expiredKey := certs.Expired(t)

	refused := map[string]*tls.Config{
		"client certificate from another CA": clientTLS(t, certs, other.ClientCertFile, other.ClientKey),
		"expired client certificate":         clientTLS(t, certs, expiredCert, expiredKey),
		"no client certificate":              clientTLS(t, certs, "", ""),
	}
	tls11 := good.Clone()
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	tls11.CipherSuites = nil
	refused["TLS 1.1"] = tls11
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		c := good.Clone()
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{suite}
		refused["TLS 1.2 suite "+tls.CipherSuiteName(suite)] = c
	}

	for name, cfg := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			if _, err := handshake(srv.Address, cfg); err == nil {
				t.Fatal("handshake and HTTP/2 preface accepted")
			}
			// And through gRPC: the Lock fails and stores nothing.
			conn, err := grpc.NewClient(srv.Address, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
			mustOK(t, err)
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = models.NewLocketClient(conn).Lock(ctx, lockReq("tls-"+name, "intruder", "", models.TypeCode_LOCK, 30))
			if err == nil {
				t.Fatal("Lock succeeded")
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				t.Fatalf("Lock failed with %v, want a transport failure", err)
			}
		})
	}

	accepted := map[string]struct {
		cfg     *tls.Config
		version uint16
		suite   uint16
	}{}
	for _, suite := range tlsconfig.CipherSuites {
		c := good.Clone()
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{suite}
		accepted["TLS 1.2 "+tls.CipherSuiteName(suite)] = struct {
			cfg     *tls.Config
			version uint16
			suite   uint16
		}{c, tls.VersionTLS12, suite}
	}
	c13 := good.Clone()
	c13.MinVersion = tls.VersionTLS13
	accepted["TLS 1.3"] = struct {
		cfg     *tls.Config
		version uint16
		suite   uint16
	}{c13, tls.VersionTLS13, 0}
	for name, a := range accepted {
		t.Run("accepted: "+name, func(t *testing.T) {
			st, err := handshake(srv.Address, a.cfg)
			mustOK(t, err)
			if st.Version != a.version || (a.suite != 0 && st.CipherSuite != a.suite) {
				t.Fatalf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}

	t.Run("the server name clients check", func(t *testing.T) {
		wrong, err := tlsconfig.Client(certs.ClientCertFile, certs.ClientKey, certs.CAFile, "bbs.service.cf.internal", false)
		mustOK(t, err)
		if _, err := handshake(srv.Address, wrong); err == nil {
			t.Fatal("a server certificate for another name was accepted")
		}
	})
}

func TestHealthService(t *testing.T) {
	db := testenv.NewDatabase(t, "sqlite")
	srv := testenv.StartServer(t, db, nil)
	h := healthpb.NewHealthClient(srv.Dial(t))
	for _, svc := range []string{"", "models.Locket"} {
		r, err := h.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
		mustOK(t, err)
		if r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q = %s", svc, r.Status)
		}
	}
	_, err := h.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	wantStatus(t, err, codes.NotFound, "unknown service")
}

// TestKeepalivePings: a client pinging every 10 s (the upstream client in a
// foundation) on a long-lived stream is not sent away with GOAWAY
// too_many_pings, which grpc-go's default policy does after three pings.
func TestKeepalivePings(t *testing.T) {
	if testing.Short() || os.Getenv("LOCKET_TEST_SKIP_SLOW") != "" {
		t.Skip("takes 35 s")
	}
	db := testenv.NewDatabase(t, "sqlite")
	srv := testenv.StartServer(t, db, nil)
	conn := srv.Dial(t, grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time: 10 * time.Second, Timeout: 22 * time.Second, PermitWithoutStream: true,
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A long-lived stream, as a Watch would be.
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	mustOK(t, err)
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	streamErr := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		streamErr <- err
	}()
	stateChanged := make(chan connectivity.State, 1)
	go func() {
		if conn.WaitForStateChange(ctx, connectivity.Ready) {
			stateChanged <- conn.GetState()
		}
	}()
	select {
	case err := <-streamErr:
		t.Fatalf("stream ended: %v", err)
	case s := <-stateChanged:
		t.Fatalf("connection left READY: %s", s)
	case <-time.After(35 * time.Second):
	}
	_, err = models.NewLocketClient(conn).Lock(ctxT(t), lockReq("keepalive", "o", "", models.TypeCode_LOCK, 10))
	mustOK(t, err)
}
