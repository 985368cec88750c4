package testenv

import (
	"fmt"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/certs"
)

// Certs are the files of a test deployment's PKI.
type Certs struct {
	CAFile                    string
	ServerCertFile, ServerKey string
	ClientCertFile, ClientKey string
	Authority                 *certs.Authority
	dir                       string
}

// ServerName is the name the server certificate is valid for, as in a foundation.
const ServerName = "locket.service.cf.internal"

// NewCerts creates a CA, a server certificate for ServerName, *.ServerName,
// localhost and 127.0.0.1, and a client certificate.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c, err := WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WriteCerts is NewCerts for callers outside tests (the benchmarks): the
// files go to dir.
func WriteCerts(dir string) (*Certs, error) {
	ca, err := certs.NewAuthority("locket test CA")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c := &Certs{Authority: ca, dir: dir}
	if c.CAFile, err = ca.WriteFile(dir, "ca"); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c.ServerCertFile, c.ServerKey, err = c.issue("server", certs.Options{
		CommonName: ServerName,
		Hosts:      []string{ServerName, "*." + ServerName, "localhost", "127.0.0.1"},
		Server:     true,
	})
	if err != nil {
		return nil, err
	}
	c.ClientCertFile, c.ClientKey, err = c.issue("client", certs.Options{CommonName: "client", Client: true})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Issue signs another certificate with the test CA and writes it under name.
func (c *Certs) Issue(t testing.TB, name string, o certs.Options) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := c.issue(name, o)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (c *Certs) issue(name string, o certs.Options) (certFile, keyFile string, err error) {
	p, err := c.Authority.Issue(o)
	if err != nil {
		return "", "", fmt.Errorf("testenv: issue %s: %w", name, err)
	}
	certFile, keyFile, err = p.WriteFiles(c.dir, name)
	if err != nil {
		return "", "", fmt.Errorf("testenv: write %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// Expired issues a client certificate that expired an hour ago.
func (c *Certs) Expired(t testing.TB) (certFile, keyFile string) {
	return c.Issue(t, "expired", certs.Options{
		CommonName: "expired", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	})
}
