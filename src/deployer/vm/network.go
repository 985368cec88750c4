// Package vm makes the deployer's "VMs": one network namespace per VM with
// an address on a private bridge, and inside it a mount, UTS and PID
// namespace whose pid 1 keeps the VM's supervisor (monit) running.
//
// The bridge lives in a namespace of its own (the "switch"), so nothing is
// ever configured in, or routed from, the machine's root network namespace.
package vm

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/locket-release/deployer/host"
)

// Network is the switch namespace of one deployment and the namespaces of
// its VMs, all named with Prefix so leftovers of a killed run can be found.
type Network struct {
	Prefix string
	Run    host.Runner
}

const bridge = "br0"

// SwitchName is the namespace that holds the bridge.
func (n Network) SwitchName() string { return n.Prefix + "sw" }

// Ensure creates the switch namespace and its bridge unless they exist.
func (n Network) Ensure(ctx context.Context) error {
	sw := n.SwitchName()
	if exists(sw) {
		return nil
	}
	steps := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", bridge, "type", "bridge"},
		{"-n", sw, "link", "set", bridge, "up"},
	}
	for _, s := range steps {
		if _, err := n.Run.Command(ctx, "ip", s...); err != nil {
			return fmt.Errorf("creating switch namespace %s: %w", sw, err)
		}
	}
	return nil
}

// Namespaces lists the network namespaces that carry the prefix.
func (n Network) Namespaces() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing network namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), n.Prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// DestroyAll kills every process in the prefixed namespaces and deletes
// them, the switch last. It is idempotent: it is how `down` ends and how
// `up` starts when a killed run left namespaces behind.
func (n Network) DestroyAll(ctx context.Context) error {
	names, err := n.Namespaces()
	if err != nil {
		return err
	}
	sw := n.SwitchName()
	var firstErr error
	for _, name := range names {
		if name == sw {
			continue
		}
		if err := destroyNamespace(ctx, n.Run, name); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if exists(sw) {
		if err := destroyNamespace(ctx, n.Run, sw); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

const netnsDir = "/run/netns"

func exists(netns string) bool {
	_, err := os.Stat(netnsDir + "/" + netns)
	return err == nil
}

// destroyNamespace kills the processes living in a network namespace (a
// VM's pid 1 first, which takes its whole pid namespace with it) and
// deletes the namespace; its veth goes with it.
func destroyNamespace(ctx context.Context, run host.Runner, netns string) error {
	for attempt := 0; attempt < 50; attempt++ {
		pids, err := pidsIn(netns)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if err := sleep(ctx, 100); err != nil {
			return err
		}
	}
	if !exists(netns) {
		return nil
	}
	if _, err := run.Command(ctx, "ip", "netns", "del", netns); err != nil {
		return fmt.Errorf("deleting network namespace %s: %w", netns, err)
	}
	return nil
}
