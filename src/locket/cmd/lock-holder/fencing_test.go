package main_test

import (
	"syscall"
	"testing"
	"time"
)

// The command gets the holding's fencing token; the next holder's is higher.
func TestCommandGetsFencingToken(t *testing.T) {
	e := newEnv(t)
	script := `echo "token $LOCKET_FENCING_TOKEN for $LOCKET_OWNER"; trap 'exit 0' TERM; while true; do sleep 0.05; done`
	p1 := e.holder(t, map[string]any{"owner": "owner-1", "key": "fenced"}, "/bin/sh", "-c", script)
	waitLine(t, p1, "token 1 for owner-1")
	p2 := e.holder(t, map[string]any{"owner": "owner-2", "key": "fenced"}, "/bin/sh", "-c", script)
	p2.WaitForMessage(10*time.Second, "bbs.locket-lock.failed-to-acquire-lock")
	p1.Signal(syscall.SIGTERM)
	if code := p1.Wait(15 * time.Second); code != 0 {
		t.Fatalf("first holder exited %d", code)
	}
	waitLine(t, p2, "token 2 for owner-2")
}
