package testenv

import (
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
	dir := t.TempDir()
	ca, err := certs.NewAuthority("locket test CA")
	if err != nil {
		t.Fatal(err)
	}
	c := &Certs{Authority: ca, dir: dir}
	if c.CAFile, err = ca.WriteFile(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	c.ServerCertFile, c.ServerKey = c.Issue(t, "server", certs.Options{
		CommonName: ServerName,
		Hosts:      []string{ServerName, "*." + ServerName, "localhost", "127.0.0.1"},
		Server:     true,
	})
	c.ClientCertFile, c.ClientKey = c.Issue(t, "client", certs.Options{CommonName: "client", Client: true})
	return c
}

// Issue signs another certificate with the test CA and writes it under name.
func (c *Certs) Issue(t testing.TB, name string, o certs.Options) (certFile, keyFile string) {
	t.Helper()
	p, err := c.Authority.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = p.WriteFiles(c.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Expired issues a client certificate that expired an hour ago.
func (c *Certs) Expired(t testing.TB) (certFile, keyFile string) {
	return c.Issue(t, "expired", certs.Options{
		CommonName: "expired", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	})
}
