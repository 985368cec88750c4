package testenv

import (
	"bufio"
	"fmt"
	"os"
	oexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// envHostsChild marks a test binary re-run by WithHosts; its value is the
// name of the test that runs inside the namespace.
const envHostsChild = "LOCKET_TEST_HOSTS_CHILD"

// WithHosts runs the calling test in a private mount namespace whose
// /etc/hosts maps each name to the given addresses, so that code under test
// resolves a name to several servers the way a foundation's DNS does
// (locket.service.cf.internal -> every Locket VM).
//
// It re-runs the test binary, limited to this test, under `unshare --mount`
// with a bind mount over /etc/hosts, streams its output into the test log
// and fails the test if the child fails. In the parent it returns false
// (return at once); in the child it returns true and the test goes on. It
// needs root and unshare(1); the network namespace is not changed, so the
// child reaches the same databases and servers.
func WithHosts(t *testing.T, hosts map[string][]string) bool {
	t.Helper()
	if os.Getenv(envHostsChild) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("testenv: WithHosts needs root (unshare --mount and a bind mount over /etc/hosts)")
	}
	unshare, err := oexec.LookPath("unshare")
	if err != nil {
		t.Skip("testenv: WithHosts needs unshare(1) (util-linux)")
	}

	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for name, addrs := range hosts {
		for _, a := range addrs {
			fmt.Fprintf(&b, "%s %s\n", a, name)
		}
	}
	file := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c",
		`mount --bind "$1" /etc/hosts && shift && exec "$@"`, "sh", file,
		os.Args[0], "-test.run=" + strings.Join(pattern, "/"), "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := oexec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), envHostsChild+"="+t.Name())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", unshare, err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	passed := false
	for sc.Scan() {
		line := sc.Text()
		t.Log("ns| " + line)
		if strings.Contains(line, "--- PASS: "+t.Name()+" ") {
			passed = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("testenv: the test failed in its mount namespace (%v); its output is above", err)
	}
	if !passed {
		t.Fatalf("testenv: the test did not run in its mount namespace; its output is above")
	}
	return false
}
