package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/locket-release/locket/internal/certs"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestDatabaseTLS runs a private MariaDB and a private Postgres that refuse
// plaintext and present a certificate valid for "localhost" only, and checks
// what sql_ca_cert_file and sql_enable_identity_verification do on each.
func TestDatabaseTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts database servers")
	}
	pki := testenv.NewCerts(t)
	cert, key := pki.Issue(t, "db", certs.Options{CommonName: "localhost", Hosts: []string{"localhost"}, Server: true})
	serverTLS := &testenv.ServerTLS{CertFile: cert, KeyFile: key, CAFile: pki.CAFile, Require: true}
	otherCA := testenv.NewCerts(t).CAFile

	t.Run("mysql", func(t *testing.T) {
		m := testenv.StartMariaDB(t, serverTLS)
		db := m.NewDatabase(t)
		dsn := func(host string) string { return fmt.Sprintf("root@tcp(%s:%d)/%s", host, m.Port, db.Name) }
		checkTLS(t, "mysql", dsn, pki.CAFile, otherCA)
	})
	t.Run("postgres", func(t *testing.T) {
		p := testenv.StartPostgres(t, serverTLS)
		db := p.NewDatabase(t)
		// sslmode=disable: the CA file alone must turn TLS on.
		dsn := func(host string) string {
			return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", host, p.Port, db.Name)
		}
		checkTLS(t, "postgres", dsn, pki.CAFile, otherCA)
	})
}

func checkTLS(t *testing.T, driver string, dsn func(host string) string, ca, otherCA string) {
	for _, tc := range []struct {
		name, host, ca string
		verifyIdentity bool
		wantErr        string // "" for success
	}{
		{"chain only, name mismatch ignored", "127.0.0.1", ca, false, ""},
		{"identity verified", "localhost", ca, true, ""},
		{"identity mismatch", "127.0.0.1", ca, true, "127.0.0.1"},
		{"unknown CA", "127.0.0.1", otherCA, false, "unknown authority"},
		{"unknown CA with identity", "localhost", otherCA, true, "unknown authority"},
		{"no TLS", "127.0.0.1", "", false, "?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(store.Config{Driver: driver, DSN: dsn(tc.host), CACertFile: tc.ca, EnableIdentityVerification: tc.verifyIdentity})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.Migrate(ctx(t))
			if err == nil {
				_, err = st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 5})
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("want success: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("want an error, the connection worked")
			case tc.wantErr != "" && tc.wantErr != "?" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want an error about %q: %v", tc.wantErr, err)
			}
			t.Logf("%v", err)
		})
	}
}
