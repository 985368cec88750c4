// Package monit writes a VM's monit control file and drives monit the way
// the BOSH agent does: reload, start all, wait until every process runs,
// stop all, wait until every process is unmonitored.
package monit

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/locket-release/deployer/host"
)

// Paths inside a VM. The control file is also bind-mounted on
// /etc/monit/monitrc so a plain `monit summary` in the VM finds it, as
// /var/vcap/bosh/bin/monit does on a BOSH VM.
const (
	ControlPath = "/var/vcap/bosh/etc/monitrc"
	JobDir      = "/var/vcap/monit/job"
	LogPath     = "/var/vcap/monit/monit.log"
)

// ControlFile is a VM's monitrc: one-second cycles, its own state files
// (so monits of several VMs never share one) and an HTTP interface bound to
// the VM's own loopback, which the monit CLI uses.
func ControlFile(password string) string {
	return fmt.Sprintf(`set daemon 1
set logfile %s
set pidfile /var/vcap/monit/monit.pid
set idfile /var/vcap/monit/monit.id
set statefile /var/vcap/monit/monit.state
set httpd port 2822 and use address 127.0.0.1
  allow vcap:%s
include %s/*.monitrc
`, LogPath, password, JobDir)
}

// Process is one "check process" as `monit status` reports it.
type Process struct {
	Name       string
	Status     string // "OK", "Does not exist", "Not monitored", "OK - stop pending", ...
	Monitoring string // "Monitored", "Not monitored", "Initializing", ...
	Pid        int
}

// Running is what the BOSH agent waits for after a start.
func (p Process) Running() bool {
	return p.Status == "OK" && p.Monitoring == "Monitored" && p.Pid > 0
}

// Stopped is what the agent waits for after a stop.
func (p Process) Stopped() bool {
	return strings.HasPrefix(p.Monitoring, "Not monitored") && !strings.Contains(p.Status, "pending")
}

var header = regexp.MustCompile(`^(\w+) '(.*)'$`)

// ParseStatus reads `monit status -B` output; only process checks count.
func ParseStatus(out string) []Process {
	var procs []Process
	var cur *Process
	for _, line := range strings.Split(out, "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			if m[1] == "Process" {
				procs = append(procs, Process{Name: m[2]})
				cur = &procs[len(procs)-1]
			} else {
				cur = nil
			}
			continue
		}
		if cur == nil {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "status":
			cur.Status = strings.Join(f[1:], " ")
		case len(f) >= 3 && f[0] == "monitoring" && f[1] == "status":
			cur.Monitoring = strings.Join(f[2:], " ")
		case len(f) == 2 && f[0] == "pid":
			cur.Pid, _ = strconv.Atoi(f[1])
		}
	}
	return procs
}

// Shell runs a script inside the VM (the consumer's view of a VM).
type Shell interface {
	Sh(ctx context.Context, script string) (string, error)
}

// Client drives the monit of one VM.
type Client struct{ VM Shell }

// sh runs a monit command, retrying for a while when monit's HTTP
// interface is not up (it restarts on every reload).
func (c Client) sh(ctx context.Context, script string) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.VM.Sh(ctx, script)
		if err == nil || !strings.Contains(err.Error(), "Cannot connect") || time.Now().After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Status lists the VM's processes.
func (c Client) Status(ctx context.Context) ([]Process, error) {
	out, err := c.sh(ctx, "monit status -B")
	if err != nil {
		return nil, fmt.Errorf("monit status: %w", err)
	}
	return ParseStatus(out), nil
}

// Summary is `monit summary` as an operator sees it.
func (c Client) Summary(ctx context.Context) (string, error) {
	return c.sh(ctx, "monit summary -B")
}

// Do runs a monit action (start, stop, restart, unmonitor, monitor) on a
// process or on "all".
func (c Client) Do(ctx context.Context, action, process string) error {
	if _, err := c.sh(ctx, "monit "+action+" "+host.Quote(process)); err != nil {
		return fmt.Errorf("monit %s %s: %w", action, process, err)
	}
	return nil
}

// WaitUp waits until monit answers on its HTTP interface.
func (c Client) WaitUp(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, "monit to answer", func() (bool, string, error) {
		_, err := c.Status(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

// Reload makes monit re-read its job files and waits until it has (its log
// says so) and reports exactly the processes named.
func (c Client) Reload(ctx context.Context, names []string, timeout time.Duration) error {
	size, err := c.VM.Sh(ctx, "stat -c %s "+LogPath+" 2>/dev/null || echo 0")
	if err != nil {
		return fmt.Errorf("monit log: %w", err)
	}
	if _, err := c.sh(ctx, "monit reload"); err != nil {
		return fmt.Errorf("monit reload: %w", err)
	}
	reloaded := fmt.Sprintf("tail -c +$((%s + 1)) %s | grep -c 'Monit reloaded' || true", strings.TrimSpace(size), LogPath)
	if err := poll(ctx, timeout, "monit to reload", func() (bool, string, error) {
		out, err := c.VM.Sh(ctx, reloaded)
		if err != nil {
			return false, "", err
		}
		return strings.TrimSpace(out) != "0", "", nil
	}); err != nil {
		return err
	}
	want := append([]string(nil), names...)
	sort.Strings(want)
	return poll(ctx, timeout, "monit to load "+strings.Join(want, ", "), func() (bool, string, error) {
		procs, err := c.Status(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		got := make([]string, len(procs))
		for i, p := range procs {
			got[i] = p.Name
		}
		sort.Strings(got)
		return strings.Join(got, ",") == strings.Join(want, ","), "has " + strings.Join(got, ", "), nil
	})
}

// StartAll starts every process and waits until all run.
func (c Client) StartAll(ctx context.Context, timeout time.Duration) error {
	if err := c.Do(ctx, "start", "all"); err != nil {
		return err
	}
	return c.WaitAll(ctx, timeout, "running", Process.Running)
}

// StopAll stops every process and waits until all are unmonitored.
func (c Client) StopAll(ctx context.Context, timeout time.Duration) error {
	if err := c.Do(ctx, "stop", "all"); err != nil {
		return err
	}
	return c.WaitAll(ctx, timeout, "stopped", Process.Stopped)
}

// WaitAll waits until every process satisfies ok.
func (c Client) WaitAll(ctx context.Context, timeout time.Duration, what string, ok func(Process) bool) error {
	return poll(ctx, timeout, "all processes "+what, func() (bool, string, error) {
		procs, err := c.Status(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var bad []string
		for _, p := range procs {
			if !ok(p) {
				bad = append(bad, fmt.Sprintf("%s: %s/%s", p.Name, p.Status, p.Monitoring))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; "), nil
	})
}

// Wait waits until the named process satisfies ok and returns it.
func (c Client) Wait(ctx context.Context, name string, timeout time.Duration, what string, ok func(Process) bool) (Process, error) {
	var found Process
	err := poll(ctx, timeout, name+" "+what, func() (bool, string, error) {
		procs, err := c.Status(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range procs {
			if p.Name == name {
				found = p
				return ok(p), p.Status + "/" + p.Monitoring, nil
			}
		}
		return false, "not loaded", nil
	})
	return found, err
}

func poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = detail
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (%s)", timeout, what, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
