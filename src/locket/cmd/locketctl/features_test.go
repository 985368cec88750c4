package main_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

func TestWhoHistoryWatch(t *testing.T) {
	for _, driver := range []string{"mysql", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			certs := testenv.NewCerts(t)
			srv := testenv.StartServer(t, testenv.NewDatabase(t, driver), certs)
			c := cli{bin: testenv.BuildCommand(t, "./cmd/locketctl"), certs: certs, addr: srv.Address}

			// watch runs until interrupted, one JSON object per event.
			cmd := exec.Command(c.bin, "watch", "bbs", "--locketAPILocation="+c.addr, "--caCertFile="+certs.CAFile,
				"--clientCertFile="+certs.ClientCertFile, "--clientKeyFile="+certs.ClientKey)
			cmd.Env = cleanEnv()
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill() //nolint:errcheck // after Wait it is a no-op
			lines := make(chan map[string]any, 10)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					var m map[string]any
					if json.Unmarshal(sc.Bytes(), &m) == nil {
						lines <- m
					}
				}
				close(lines)
			}()
			nextLine := func() map[string]any {
				t.Helper()
				select {
				case m := <-lines:
					return m
				case <-time.After(10 * time.Second):
					t.Fatal("no watch output")
				}
				return nil
			}
			if m := nextLine(); m["event"] != "watch-started" {
				t.Fatalf("first watch line %v", m)
			}

			c.run(t, "claim-lock", "-k", "bbs", "-o", "bbs-0", "-t", "15").ok(t)
			c.run(t, "release-lock", "-k", "bbs", "-o", "bbs-0").ok(t)
			c.run(t, "claim-lock", "-k", "bbs", "-o", "bbs-1", "-t", "15").ok(t)
			for _, want := range []string{"acquired bbs-0 1", "released bbs-0 1", "taken-over bbs-1 2"} {
				m := nextLine()
				if got := strings.Join([]string{m["event"].(string), m["owner"].(string), jsonNum(m["fencing_token"])}, " "); got != want {
					t.Fatalf("watch line %v, want %s", m, want)
				}
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("watch after SIGINT: %v", err)
			}

			// who: holder, since when, token, expires in.
			var who map[string]any
			r := c.run(t, "who", "bbs").ok(t)
			if err := json.Unmarshal([]byte(r.stdout), &who); err != nil {
				t.Fatalf("who output %q: %v", r.stdout, err)
			}
			if who["owner"] != "bbs-1" || who["fencing_token"] != float64(2) || who["since"] == nil || who["expires_in"] == nil {
				t.Fatalf("who: %v", who)
			}
			if d, err := time.ParseDuration(who["expires_in"].(string)); err != nil || d <= 10*time.Second || d > 15*time.Second {
				t.Fatalf("who expires_in %v", who["expires_in"])
			}
			if r := c.run(t, "who", "bbs", "-t").ok(t); !strings.Contains(r.stdout, "bbs-1") || !strings.HasPrefix(r.stdout, "KEY") {
				t.Fatalf("who -t: %q", r.stdout)
			}

			// history: newest first.
			r = c.run(t, "history", "bbs").ok(t)
			hist := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(hist) != 3 || !strings.Contains(hist[0], `"event":"taken-over"`) || !strings.Contains(hist[0], `"previous_owner":"bbs-0"`) ||
				!strings.Contains(hist[2], `"event":"acquired"`) {
				t.Fatalf("history:\n%s", r.stdout)
			}
			if r := c.run(t, "history", "-n", "1", "--type", "presence").ok(t); r.stdout != "" {
				t.Fatalf("presence history: %q", r.stdout)
			}
			if r := c.run(t, "history", "-t").ok(t); !strings.HasPrefix(r.stdout, "TIME") || strings.Count(r.stdout, "\n") != 4 {
				t.Fatalf("history -t:\n%s", r.stdout)
			}
			if r := c.run(t, "who"); r.code != 3 {
				t.Fatalf("who without key: %+v", r)
			}
			if r := c.run(t, "history", "--type", "x"); r.code != 3 {
				t.Fatalf("history --type x: %+v", r)
			}
		})
	}
}

func jsonNum(v any) string {
	if f, ok := v.(float64); ok {
		b, _ := json.Marshal(f)
		return string(b)
	}
	return ""
}
