package vm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsInode identifies a named network namespace.
func netnsInode(netns string) (uint64, error) {
	fi, err := os.Stat(netnsDir + "/" + netns)
	if err != nil {
		return 0, fmt.Errorf("network namespace %s: %w", netns, err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, nil
}

// pidsIn lists the processes whose network namespace is netns (what
// `ip netns pids` prints).
func pidsIn(netns string) ([]int, error) {
	ino, err := netnsInode(netns)
	if os.IsNotExist(err) || (err != nil && !exists(netns)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("net:[%d]", ino)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("reading /proc: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink("/proc/" + e.Name() + "/ns/net")
		if err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// initPid finds the pid 1 of the VM's pid namespace among the processes of
// its network namespace: the one whose innermost pid is 1.
func initPid(netns string) (int, error) {
	pids, err := pidsIn(netns)
	if err != nil {
		return 0, err
	}
	for _, p := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if !strings.HasPrefix(line, "NSpid:") {
				continue
			}
			f := strings.Fields(strings.TrimPrefix(line, "NSpid:"))
			if len(f) == 2 && f[1] == "1" {
				return p, nil
			}
		}
	}
	return 0, fmt.Errorf("VM %s is not running (no init process in its namespace)", netns)
}

func sleep(ctx context.Context, ms int) error {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
