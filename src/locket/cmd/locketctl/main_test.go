package main_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
)

type cli struct {
	bin   string
	certs *testenv.Certs
	addr  string
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs locketctl with the connection flags before args.
func (c cli) run(t *testing.T, args ...string) result {
	t.Helper()
	conn := []string{
		"--locketAPILocation=" + c.addr,
		"--caCertFile=" + c.certs.CAFile,
		"--clientCertFile=" + c.certs.ClientCertFile,
		"--clientKeyFile=" + c.certs.ClientKey,
	}
	// cfdot takes the flags after the command; so do we.
	return c.runEnv(t, nil, append(args[:1:1], append(conn, args[1:]...)...)...)
}

// runEnv runs locketctl with exactly args and env added to the environment.
func (c cli) runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return r
}

// cleanEnv is the environment without the variables locketctl reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LOCKET_API_LOCATION", "CA_CERT_FILE", "CLIENT_CERT_FILE", "CLIENT_KEY_FILE", "SKIP_CERT_VERIFY",
			"LOCKET_CA_CERT_FILE", "LOCKET_CERT_FILE", "LOCKET_KEY_FILE", "LOCKET_SKIP_CERT_VERIFY", "CFDOT_TIMEOUT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestCommands(t *testing.T) {
	db := testenv.NewDatabase(t, "mysql")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs)
	c := cli{bin: testenv.BuildCommand(t, "./cmd/locketctl"), certs: certs, addr: srv.Address}

	// Claims print nothing.
	for _, args := range [][]string{
		{"claim-lock", "-k", "bbs", "-o", "9e859b27", "-t", "15"},
		{"claim-lock", "--key=auctioneer", "--owner=fe89652e", "--value=v1", "--ttl=30"},
		{"claim-presence", "-k", "cell-2", "-o", "o2", "-v", `{"cell_id":"cell-2"}`, "-t", "15"},
		{"claim-presence", "-k", "cell-1", "-o", "o1", "-t", "15"},
	} {
		if r := c.run(t, args...).ok(t); r.stdout != "" || r.stderr != "" {
			t.Errorf("%v printed %q %q", args, r.stdout, r.stderr)
		}
	}

	// cfdot's JSON lines (sorted by key).
	if got, want := c.run(t, "locks").ok(t).stdout,
		`{"key":"auctioneer","owner":"fe89652e","value":"v1","type":"lock","type_code":1}`+"\n"+
			`{"key":"bbs","owner":"9e859b27","type":"lock","type_code":1}`+"\n"; got != want {
		t.Errorf("locks:\n%s\nwant:\n%s", got, want)
	}
	if got, want := c.run(t, "presences").ok(t).stdout,
		`{"key":"cell-1","owner":"o1","type":"presence","type_code":2}`+"\n"+
			`{"key":"cell-2","owner":"o2","value":"{\"cell_id\":\"cell-2\"}","type":"presence","type_code":2}`+"\n"; got != want {
		t.Errorf("presences:\n%s\nwant:\n%s", got, want)
	}
	if got, want := c.run(t, "get", "cell-2").ok(t).stdout,
		`{"key":"cell-2","owner":"o2","value":"{\"cell_id\":\"cell-2\"}","type":"presence","type_code":2}`+"\n"; got != want {
		t.Errorf("get:\n%s\nwant:\n%s", got, want)
	}

	// Tables for people.
	wantTable := "KEY         OWNER     TYPE  VALUE\n" +
		"auctioneer  fe89652e  lock  v1\n" +
		"bbs         9e859b27  lock  \n"
	if got := c.run(t, "locks", "-t").ok(t).stdout; got != wantTable {
		t.Errorf("locks -t:\n%q\nwant:\n%q", got, wantTable)
	}
	if got := c.run(t, "locks", "--output", "table").ok(t).stdout; got != wantTable {
		t.Errorf("locks --output table:\n%q", got)
	}
	if got := c.run(t, "get", "bbs", "--output=table").ok(t).stdout; got != "KEY  OWNER     TYPE  VALUE\nbbs  9e859b27  lock  \n" {
		t.Errorf("get --output=table:\n%q", got)
	}

	// Renewal by the owner is fine; another owner collides (exit 4).
	c.run(t, "claim-lock", "-k", "bbs", "-o", "9e859b27", "-t", "15").ok(t)
	r := c.run(t, "claim-lock", "-k", "bbs", "-o", "someone-else", "-t", "15")
	if r.code != 4 || !strings.Contains(r.stderr, "rpc error: code = AlreadyExists desc = lock-collision") || r.stdout != "" {
		t.Errorf("collision: %+v", r)
	}
	r = c.run(t, "release-lock", "-k", "bbs", "-o", "someone-else")
	if r.code != 4 || !strings.Contains(r.stderr, "lock-collision") {
		t.Errorf("release by a non-owner: %+v", r)
	}
	if r := c.run(t, "release-lock", "-k", "bbs", "-o", "9e859b27").ok(t); r.stdout != "" {
		t.Errorf("release printed %q", r.stdout)
	}
	r = c.run(t, "get", "bbs")
	if r.code != 4 || !strings.Contains(r.stderr, "resource-not-found") {
		t.Errorf("get of a released lock: %+v", r)
	}
	if got := c.run(t, "locks").ok(t).stdout; got != `{"key":"auctioneer","owner":"fe89652e","value":"v1","type":"lock","type_code":1}`+"\n" {
		t.Errorf("locks after release: %q", got)
	}

	// The environment variables instead of flags, and connection flags
	// before the command.
	env := []string{
		"LOCKET_API_LOCATION=" + srv.Address, "CA_CERT_FILE=" + certs.CAFile,
		"CLIENT_CERT_FILE=" + certs.ClientCertFile, "CLIENT_KEY_FILE=" + certs.ClientKey,
	}
	if got := c.runEnv(t, env, "presences").ok(t).stdout; strings.Count(got, "\n") != 2 {
		t.Errorf("presences with env: %q", got)
	}
	if got := c.runEnv(t, nil, "--locketAPILocation="+srv.Address, "--locketCACertFile="+certs.CAFile,
		"--locketCertFile="+certs.ClientCertFile, "--locketKeyFile="+certs.ClientKey, "get", "auctioneer").ok(t).stdout; !strings.Contains(got, `"owner":"fe89652e"`) {
		t.Errorf("--locket* flags before the command: %q", got)
	}
	// --skipCertVerify: no CA needed.
	if got := c.runEnv(t, []string{"LOCKET_API_LOCATION=" + srv.Address, "CLIENT_CERT_FILE=" + certs.ClientCertFile,
		"CLIENT_KEY_FILE=" + certs.ClientKey, "SKIP_CERT_VERIFY=true"}, "locks").ok(t).stdout; !strings.Contains(got, "auctioneer") {
		t.Errorf("SKIP_CERT_VERIFY: %q", got)
	}
}

func TestErrors(t *testing.T) {
	certs := testenv.NewCerts(t)
	c := cli{bin: testenv.BuildCommand(t, "./cmd/locketctl"), certs: certs, addr: testenv.FreeAddress(t)}
	for _, tc := range []struct {
		name string
		run  func() result
		code int
		want string
	}{
		{"no command", func() result { return c.runEnv(t, nil) }, 3, "no command given"},
		{"unknown command", func() result { return c.run(t, "unlock") }, 3, `unknown command "unlock"`},
		{"no location", func() result { return c.runEnv(t, nil, "locks") }, 3, "Locket API Location not set"},
		{"no key", func() result { return c.run(t, "claim-lock", "-o", "o", "-t", "1") }, 3, "key cannot be empty"},
		{"no owner", func() result { return c.run(t, "release-lock", "-k", "k") }, 3, "owner cannot be empty"},
		{"no ttl", func() result { return c.run(t, "claim-lock", "-k", "k", "-o", "o") }, 3, "ttl should be an integer greater than zero"},
		{"extra argument", func() result { return c.run(t, "locks", "extra") }, 3, "too many arguments"},
		{"bad output", func() result { return c.run(t, "locks", "--output", "yaml") }, 3, "want json or table"},
		{"unknown flag", func() result { return c.run(t, "locks", "--nope") }, 3, "flag provided but not defined: -nope"},
		{"missing CA file", func() result {
			return c.runEnv(t, nil, "locks", "--locketAPILocation=x:1", "--caCertFile=/nonexistent/ca.crt",
				"--clientCertFile="+certs.ClientCertFile, "--clientKeyFile="+certs.ClientKey)
		}, 3, "CA cert file '/nonexistent/ca.crt' doesn't exist or is not readable"},
		{"server down", func() result { return c.run(t, "locks", "--timeout=2") }, 4, "cannot reach Locket at " + c.addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and stderr mentioning %q", r.code, r.stderr, r.stdout, tc.code, tc.want)
			}
		})
	}
}
