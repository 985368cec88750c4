package vm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	boshsys "github.com/cloudfoundry/bosh-utils/system"

	"github.com/locket-release/deployer/host"
)

// Config describes one VM.
type Config struct {
	Netns    string // network namespace name (carries the Network's prefix)
	Veth     string // the bridge-side end of its veth, at most 15 characters
	Address  string // CIDR address of its eth0, e.g. 10.244.0.3/24
	Dir      string // host directory holding the VM's disk: vcap/, etc/, tmp/
	Hostname string
	// Binds are extra bind mounts (host path -> path in the VM) made after
	// Dir/vcap is mounted on /var/vcap and Dir/etc/hosts on /etc/hosts,
	// and before Dir/tmp is mounted on /tmp.
	Binds [][2]string
	// Supervisor is the command pid 1 keeps running (restarted a second
	// after it exits), with its output appended to SupervisorLog.
	Supervisor    []string
	SupervisorLog string
}

// VM is a running (or stopped) VM.
type VM struct {
	Netns string
	Dir   string
	run   host.Runner
}

// Open returns the VM living in netns with its disk at dir.
func Open(run host.Runner, netns, dir string) VM { return VM{Netns: netns, Dir: dir, run: run} }

// Vcap is the host path of the VM's /var/vcap.
func (v VM) Vcap() string { return filepath.Join(v.Dir, "vcap") }

// HostsFile is the host path of the VM's /etc/hosts.
func (v VM) HostsFile() string { return filepath.Join(v.Dir, "etc", "hosts") }

// Create makes the VM's network namespace, plugs it into the switch, lays
// out its disk and boots it. The caller writes the supervisor's config under
// Dir/vcap before calling Create.
func (n Network) Create(ctx context.Context, c Config) (VM, error) {
	v := Open(n.Run, c.Netns, c.Dir)
	for _, d := range []string{v.Vcap(), filepath.Join(c.Dir, "etc"), filepath.Join(c.Dir, "tmp")} {
		if err := n.Run.FS.MkdirAll(d, 0o755); err != nil {
			return v, fmt.Errorf("creating VM directory: %w", err)
		}
	}
	if err := n.Run.FS.Chmod(filepath.Join(c.Dir, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return v, fmt.Errorf("VM /tmp: %w", err)
	}
	if !n.Run.FS.FileExists(v.HostsFile()) {
		if err := n.Run.FS.WriteFileString(v.HostsFile(), "127.0.0.1 localhost\n"); err != nil {
			return v, fmt.Errorf("VM hosts file: %w", err)
		}
	}
	sw := n.SwitchName()
	steps := [][]string{
		{"netns", "add", c.Netns},
		{"-n", sw, "link", "add", c.Veth, "type", "veth", "peer", "name", "eth0", "netns", c.Netns},
		{"-n", sw, "link", "set", c.Veth, "master", bridge, "up"},
		{"-n", c.Netns, "addr", "add", c.Address, "dev", "eth0"},
		{"-n", c.Netns, "link", "set", "eth0", "up"},
		{"-n", c.Netns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := n.Run.Command(ctx, "ip", s...); err != nil {
			return v, fmt.Errorf("creating VM network %s: %w", c.Netns, err)
		}
	}
	if err := v.boot(ctx, c); err != nil {
		return v, err
	}
	return v, nil
}

// boot starts the VM's pid 1 in its own session, detached from the
// deployer, so the VM outlives the command that created it.
func (v VM) boot(ctx context.Context, c Config) error {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# pid 1 of a deployer VM: mount its own view of the disk, then keep the supervisor up.\nset -e\ncd /\n")
	// /tmp last: the other sources may live under the machine's /tmp.
	binds := append(append([][2]string{{v.Vcap(), "/var/vcap"}, {v.HostsFile(), "/etc/hosts"}}, c.Binds...), [2]string{filepath.Join(c.Dir, "tmp"), "/tmp"})
	for _, bd := range binds {
		fmt.Fprintf(&b, "mount --bind %s %s\n", host.Quote(bd[0]), host.Quote(bd[1]))
	}
	b.WriteString("mount -t tmpfs -o mode=0755 tmpfs /run\n")
	fmt.Fprintf(&b, "hostname %s\nset +e\n", host.Quote(c.Hostname))
	// A stemcell's limit on open files, not the deployer's shell's.
	b.WriteString("ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null\n")
	fmt.Fprintf(&b, "while :; do\n  %s >>%s 2>&1 </dev/null\n  sleep 1\ndone\n", quoteAll(c.Supervisor), host.Quote(c.SupervisorLog))
	initPath := filepath.Join(c.Dir, "init.sh")
	if err := v.run.FS.WriteFileString(initPath, b.String()); err != nil {
		return fmt.Errorf("writing VM init: %w", err)
	}
	console, err := os.OpenFile(filepath.Join(c.Dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("VM console: %w", err)
	}
	defer console.Close()
	_, err = v.run.Run(ctx, boshsys.Command{
		Name: "setsid",
		Args: []string{"-f", "nsenter", "--net=" + netnsDir + "/" + v.Netns,
			"unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private",
			"/bin/sh", initPath},
		Stdout: console, Stderr: console,
	})
	if err != nil {
		return fmt.Errorf("booting VM %s: %w", v.Netns, err)
	}
	for i := 0; i < 100; i++ {
		if _, err := initPid(v.Netns); err == nil {
			return nil
		}
		if err := sleep(ctx, 50); err != nil {
			return err
		}
	}
	out, _ := v.run.FS.ReadFileString(filepath.Join(c.Dir, "console.log"))
	return fmt.Errorf("VM %s did not boot: %s", v.Netns, out)
}

// Running tells whether the VM's pid 1 is alive.
func (v VM) Running() bool {
	_, err := initPid(v.Netns)
	return err == nil
}

// Cmd is a command to run inside a VM.
type Cmd struct {
	Argv   []string
	Env    map[string]string // added to PATH, HOME and LANG
	Stdin  io.Reader
	Stdout io.Writer // nil: captured into the Result
	Stderr io.Writer
	// Attached keeps the command in the caller's process group, so a
	// terminal's Ctrl-C reaches it (interactive `deploy exec`).
	Attached bool
}

// Path is the PATH of commands run in a VM (BOSH puts its monit first).
const Path = "/var/vcap/bosh/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Exec runs a command inside the VM's namespaces (network, mount, UTS,
// pid), with a clean environment, as root.
func (v VM) Exec(ctx context.Context, c Cmd) (host.Result, error) {
	pid, err := initPid(v.Netns)
	if err != nil {
		return host.Result{ExitStatus: -1}, err
	}
	args := []string{"-t", fmt.Sprint(pid), "-n", "-m", "-u", "-p", "-w", "--", "env", "-i",
		"PATH=" + Path, "HOME=/root", "LANG=C.UTF-8"}
	if t := os.Getenv("TERM"); t != "" && c.Attached {
		args = append(args, "TERM="+t)
	}
	for k, val := range c.Env {
		args = append(args, k+"="+val)
	}
	args = append(args, c.Argv...)
	return v.run.Run(ctx, boshsys.Command{Name: "nsenter", Args: args, Stdin: c.Stdin,
		Stdout: c.Stdout, Stderr: c.Stderr, KeepAttached: c.Attached})
}

// Sh runs a shell script inside the VM and returns its stdout.
func (v VM) Sh(ctx context.Context, script string) (string, error) {
	res, err := v.Exec(ctx, Cmd{Argv: []string{"/bin/sh", "-c", script}})
	if err != nil {
		return res.Stdout, fmt.Errorf("in VM %s: %w", v.Netns, err)
	}
	return res.Stdout, nil
}

// Destroy kills everything in the VM and deletes its network namespace.
// The disk (Dir) is left for the caller to remove.
func (v VM) Destroy(ctx context.Context) error {
	return destroyNamespace(ctx, v.run, v.Netns)
}

func quoteAll(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = host.Quote(a)
	}
	return strings.Join(q, " ")
}
