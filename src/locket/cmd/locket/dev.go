package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"code.cloudfoundry.org/lager/v3/lagerflags"

	"github.com/locket-release/locket/config"
	"github.com/locket-release/locket/internal/certs"
)

// DefaultDevListen is where `locket -dev` listens unless -listen says otherwise.
const DefaultDevListen = "127.0.0.1:8891"

// devSetup prepares `locket -dev`: a temporary directory with a fresh CA,
// server and client certificates and a SQLite database, and the config that
// uses them. It prints how to connect to out. cleanup removes the directory.
func devSetup(listen string, out io.Writer) (cfg config.Config, cleanup func(), err error) {
	if listen == "" {
		listen = DefaultDevListen
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("-listen %q: %w", listen, err)
	}
	dir, err := os.MkdirTemp("", "locket-dev-")
	if err != nil {
		return config.Config{}, nil, fmt.Errorf("create dev directory: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()

	ca, err := certs.NewAuthority("locket dev CA")
	if err != nil {
		return config.Config{}, nil, err
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		return config.Config{}, nil, err
	}
	hosts := []string{"locket.service.cf.internal", "localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "localhost" && host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	serverPair, err := ca.Issue(certs.Options{CommonName: "locket.service.cf.internal", Hosts: hosts, Server: true})
	if err != nil {
		return config.Config{}, nil, err
	}
	certFile, keyFile, err := serverPair.WriteFiles(dir, "server")
	if err != nil {
		return config.Config{}, nil, err
	}
	clientPair, err := ca.Issue(certs.Options{CommonName: "locket dev client", Client: true})
	if err != nil {
		return config.Config{}, nil, err
	}
	clientCert, clientKey, err := clientPair.WriteFiles(dir, "client")
	if err != nil {
		return config.Config{}, nil, err
	}

	cfg = config.Defaults()
	cfg.ListenAddress = listen
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = caFile, certFile, keyFile
	cfg.DatabaseDriver = "sqlite"
	cfg.DatabaseConnectionString = filepath.Join(dir, "locket.db")
	cfg.TimeFormat = lagerflags.FormatRFC3339
	if err := cfg.Validate(); err != nil {
		return config.Config{}, nil, err
	}

	// What a client dials: the listen address, with a wildcard host
	// replaced by loopback.
	addr := listen
	if host == "" || host == "0.0.0.0" || host == "::" {
		_, port, _ := net.SplitHostPort(listen)
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	clientConfig := map[string]any{
		"locket_address":                  addr,
		"locket_ca_cert_file":             caFile,
		"locket_client_cert_file":         clientCert,
		"locket_client_key_file":          clientKey,
		"locket_client_keepalive_time":    10,
		"locket_client_keepalive_timeout": 22,
	}
	clientJSON, _ := json.MarshalIndent(clientConfig, "", "  ")
	clientFile := filepath.Join(dir, "client.json")
	if err := os.WriteFile(clientFile, append(clientJSON, '\n'), 0o600); err != nil {
		return config.Config{}, nil, err
	}

	fmt.Fprintf(out, `locket dev server: mutual TLS on %[1]s, SQLite database %[2]s
Everything lives in %[3]s and is removed when the server exits (Ctrl-C).

Connect with locketctl (flags or environment):
  export LOCKET_API_LOCATION=%[4]s
  export CA_CERT_FILE=%[5]s
  export CLIENT_CERT_FILE=%[6]s
  export CLIENT_KEY_FILE=%[7]s
  locketctl locks
or
  locketctl --locketAPILocation=%[4]s --caCertFile=%[5]s --clientCertFile=%[6]s --clientKeyFile=%[7]s locks

Client config for lock-holder, presence-agent or any upstream client (also in %[8]s):
%[9]s

`, listen, cfg.DatabaseConnectionString, dir, addr, caFile, clientCert, clientKey, clientFile, clientJSON)
	return cfg, cleanup, nil
}
