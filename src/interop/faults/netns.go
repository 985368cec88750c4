package faults

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Network puts clients behind links that can be cut. Every name it makes
// starts with "lkf-<pid>-", so leftovers of a dead run are recognised and
// removed; nothing is ever configured in the root namespace.
//
// Layout: a hub namespace holds, per client, one end of a veth pair
// (10.253.K.1/30); the client's own namespace holds the other end
// (10.253.K.2/30) and the client process. The test process listens inside
// the hub (a socket opened after setns) and forwards each connection to a
// server on the root namespace's loopback, so no traffic ever goes from the
// root namespace to the private range. A partition is a blackhole route on
// both ends: established connections go silent, new ones fail.
type Network struct {
	t      testing.TB
	prefix string
	hub    string
	mu     sync.Mutex
	links  []*Link
}

// Link is one client's namespace and its cable to the hub.
type Link struct {
	net     *Network
	NS      string // the client's namespace, for ip netns exec
	hubIP   string
	peerIP  string
	cut     bool
	proxies []*forwarder
}

var networkSeq atomic.Int64

// NewNetwork makes the hub namespace; everything is removed when the test
// ends.
func NewNetwork(t testing.TB) *Network {
	t.Helper()
	cleanupLeftoverNamespaces(t)
	n := &Network{t: t, prefix: fmt.Sprintf("lkf-%d-%d", os.Getpid(), networkSeq.Add(1))}
	n.hub = n.prefix + "-hub"
	t.Cleanup(n.remove)
	n.ip("netns", "add", n.hub)
	n.ip("-n", n.hub, "link", "set", "lo", "up")
	return n
}

// AddLink makes a client namespace cabled to the hub.
func (n *Network) AddLink() *Link {
	n.mu.Lock()
	k := len(n.links) + 1
	n.mu.Unlock()
	if k > 250 {
		n.t.Fatal("too many links")
	}
	l := &Link{
		net:    n,
		NS:     fmt.Sprintf("%s-c%d", n.prefix, k),
		hubIP:  fmt.Sprintf("10.253.%d.1", k),
		peerIP: fmt.Sprintf("10.253.%d.2", k),
	}
	n.mu.Lock()
	n.links = append(n.links, l)
	n.mu.Unlock()
	hubIf, peerIf := fmt.Sprintf("h%d", k), "c0"
	n.ip("netns", "add", l.NS)
	n.ip("-n", l.NS, "link", "set", "lo", "up")
	// Created in the hub with its peer in the client's namespace: neither
	// end ever exists in the root namespace.
	n.ip("-n", n.hub, "link", "add", hubIf, "type", "veth", "peer", "name", peerIf, "netns", l.NS)
	n.ip("-n", n.hub, "addr", "add", l.hubIP+"/30", "dev", hubIf)
	n.ip("-n", l.NS, "addr", "add", l.peerIP+"/30", "dev", peerIf)
	n.ip("-n", n.hub, "link", "set", hubIf, "up")
	n.ip("-n", l.NS, "link", "set", peerIf, "up")
	return l
}

// Forward makes target (a 127.0.0.1 address in the root namespace)
// reachable from the link's namespace and returns the address to use there.
func (l *Link) Forward(target string) string {
	ln, err := listenInNamespace(l.net.hub, l.hubIP+":0")
	if err != nil {
		l.net.t.Fatalf("listen in %s: %v", l.net.hub, err)
	}
	f := newForwarder(ln, func() []string { return []string{target} })
	l.proxies = append(l.proxies, f)
	l.net.t.Cleanup(f.Close)
	return ln.Addr().String()
}

// Cut partitions the link: packets both ways are dropped.
func (l *Link) Cut() {
	l.net.ip("-n", l.NS, "route", "add", "blackhole", l.hubIP+"/32")
	l.net.ip("-n", l.net.hub, "route", "add", "blackhole", l.peerIP+"/32")
	l.cut = true
}

// Heal undoes Cut.
func (l *Link) Heal() {
	l.net.ip("-n", l.NS, "route", "del", "blackhole", l.hubIP+"/32")
	l.net.ip("-n", l.net.hub, "route", "del", "blackhole", l.peerIP+"/32")
	l.cut = false
}

func (n *Network) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *Network) remove() {
	n.mu.Lock()
	links := n.links
	n.mu.Unlock()
	for _, l := range links {
		for _, f := range l.proxies {
			f.Close()
		}
		_ = exec.Command("ip", "netns", "del", l.NS).Run()
	}
	_ = exec.Command("ip", "netns", "del", n.hub).Run()
}

// CleanupLeftovers removes what runs killed before their cleanup left:
// namespaces, private database servers and their directories. Names carry
// the pid of the test process that made them; a live run's are kept.
func CleanupLeftovers(t testing.TB) {
	cleanupLeftoverNamespaces(t)
	cleanupLeftoverDatabases(t)
}

func cleanupLeftoverNamespaces(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v (the fault suite needs root and iproute2)", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "lkf-")
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			continue
		}
		if processAlive(pid) {
			continue // a live run's
		}
		if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
			t.Logf("removed leftover namespace %s", name)
		}
	}
}

// listenInNamespace opens a TCP listener inside the named network namespace.
// The socket stays in that namespace for its life, whatever thread later
// accepts on it. The switch happens on a locked OS thread; if switching back
// fails the thread is left locked so that Go discards it.
func listenInNamespace(ns, addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		l, lerr := net.Listen("tcp", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			if l != nil {
				l.Close()
			}
			ch <- result{err: fmt.Errorf("setns back: %w", err)} // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		ch <- result{l, lerr}
	}()
	r := <-ch
	return r.l, r.err
}
