package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
)

type fakeSubConn struct {
	balancer.SubConn
	addr string
}

func buildInfo(addrs ...string) (base.PickerBuildInfo, map[string]*fakeSubConn) {
	info := base.PickerBuildInfo{ReadySCs: map[balancer.SubConn]base.SubConnInfo{}}
	scs := map[string]*fakeSubConn{}
	for _, a := range addrs {
		sc := &fakeSubConn{addr: a}
		scs[a] = sc
		info.ReadySCs[sc] = base.SubConnInfo{Address: resolver.Address{Addr: a}}
	}
	return info, scs
}

func pick(t *testing.T, p balancer.Picker, done error) string {
	t.Helper()
	res, err := p.Pick(balancer.PickInfo{})
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	res.Done(balancer.DoneInfo{Err: done})
	return res.SubConn.(*fakeSubConn).addr
}

func TestStickyPicker(t *testing.T) {
	b := &stickyPickerBuilder{}
	info, _ := buildInfo("10.0.0.1:8891", "10.0.0.2:8891", "10.0.0.3:8891")
	p := b.Build(info)

	first := pick(t, p, nil)
	for range 5 {
		if got := pick(t, p, nil); got != first {
			t.Fatalf("picked %s after %s without a failure; want sticky", got, first)
		}
	}
	// Answers that are not server failures keep the server.
	for _, err := range []error{status.Error(codes.AlreadyExists, "lock-collision"), status.Error(codes.NotFound, "x"), context.Canceled} {
		if got := pick(t, p, err); got != first {
			t.Fatalf("moved to %s after %v", got, err)
		}
	}
	// A failure moves to the next address, in order, and stays there.
	next := map[string]string{"10.0.0.1:8891": "10.0.0.2:8891", "10.0.0.2:8891": "10.0.0.3:8891", "10.0.0.3:8891": "10.0.0.1:8891"}
	pick(t, p, status.Error(codes.DeadlineExceeded, "deadline"))
	if got := pick(t, p, nil); got != next[first] {
		t.Fatalf("after a timeout on %s picked %s, want %s", first, got, next[first])
	}
	pick(t, p, status.Error(codes.Unavailable, "gone"))
	second := next[next[first]]
	if got := pick(t, p, nil); got != second {
		t.Fatalf("after Unavailable picked %s, want %s", got, second)
	}

	// A late failure of a call to a server no longer current changes nothing.
	res, _ := p.Pick(balancer.PickInfo{})
	pick(t, p, status.Error(codes.Unavailable, "x")) // moves on
	now := pick(t, p, nil)
	res.Done(balancer.DoneInfo{Err: status.Error(codes.Unavailable, "late")})
	if got := pick(t, p, nil); got != now {
		t.Fatalf("a late failure moved from %s to %s", now, got)
	}

	// The current server leaves the ready set: the next one in order is used
	// and the choice survives the rebuild.
	var rest []string
	for _, a := range []string{"10.0.0.1:8891", "10.0.0.2:8891", "10.0.0.3:8891"} {
		if a != now {
			rest = append(rest, a)
		}
	}
	info2, _ := buildInfo(rest...)
	p2 := b.Build(info2)
	got := pick(t, p2, nil)
	if got == now || (got != next[now] && got != rest[0]) {
		t.Fatalf("after %s left, picked %s", now, got)
	}
	if again := pick(t, p2, nil); again != got {
		t.Fatalf("not sticky after rebuild: %s then %s", got, again)
	}

	// No ready server: the call waits for one.
	if _, err := b.Build(base.PickerBuildInfo{}).Pick(balancer.PickInfo{}); err != balancer.ErrNoSubConnAvailable {
		t.Fatalf("Pick with nothing ready = %v", err)
	}
}

func TestStickyPickerWithinOneCall(t *testing.T) {
	b := &stickyPickerBuilder{}
	info, _ := buildInfo("10.0.0.1:8891", "10.0.0.2:8891")
	p := b.Build(info)
	current := pick(t, p, nil)
	other := map[string]string{"10.0.0.1:8891": "10.0.0.2:8891", "10.0.0.2:8891": "10.0.0.1:8891"}[current]

	// A call's second attempt (the first still waiting) goes to the other
	// server; when it answers, that server becomes the current one.
	ctx := context.WithValue(context.Background(), callStateKey{}, &callState{tried: map[string]bool{}})
	first, err := p.Pick(balancer.PickInfo{Ctx: ctx})
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Pick(balancer.PickInfo{Ctx: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.SubConn.(*fakeSubConn).addr, second.SubConn.(*fakeSubConn).addr; a != current || b != other {
		t.Fatalf("attempts went to %s then %s; want %s then %s", a, b, current, other)
	}
	second.Done(balancer.DoneInfo{})
	first.Done(balancer.DoneInfo{Err: context.Canceled}) // the loser, cancelled
	if got := pick(t, p, nil); got != other {
		t.Fatalf("after %s answered first, picked %s", other, got)
	}

	// When every server was tried, the current one is used again.
	third, _ := p.Pick(balancer.PickInfo{Ctx: ctx})
	if got := third.SubConn.(*fakeSubConn).addr; got != other {
		t.Fatalf("all tried: picked %s, want the current %s", got, other)
	}
}

func TestFailoverDelay(t *testing.T) {
	for _, tc := range []struct {
		budget, delay, want time.Duration
	}{
		{0, 2 * time.Second, 2 * time.Second},               // no deadline: the delay
		{5 * time.Second, 2 * time.Second, 2 * time.Second}, // plenty of time
		{time.Second, 2 * time.Second, 500 * time.Millisecond},
		{400 * time.Millisecond, 2 * time.Second, 250 * time.Millisecond}, // never under 250 ms
	} {
		ctx := context.Background()
		if tc.budget > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, tc.budget)
			defer cancel()
		}
		if got := failoverDelay(ctx, tc.delay); got > tc.want || got < tc.want-50*time.Millisecond {
			t.Errorf("budget %s, delay %s: %s, want about %s", tc.budget, tc.delay, got, tc.want)
		}
	}
}

func TestRequestID(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if a == b || len(a) != 36 || a[14] != '4' || !strings.ContainsAny(a[19:20], "89ab") {
		t.Errorf("request ids %q %q", a, b)
	}
	if got := RequestID(WithRequestID(context.Background(), a)); got != a {
		t.Errorf("RequestID = %q, want %q", got, a)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{LocketAddress: "locket.service.cf.internal:8891", LocketCACertFile: "ca", LocketClientCertFile: "c", LocketClientKeyFile: "k"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.LocketAddress = "" }, "locket_address is not set"},
		{func(c *Config) { c.LocketAddress = "locket.service.cf.internal" }, "not host:port"},
		{func(c *Config) { c.LocketAddress = ":8891" }, "has no host"},
		{func(c *Config) { c.LocketAddress = "h:99999" }, "invalid port"},
		{func(c *Config) { c.LocketCACertFile = "" }, "locket_ca_cert_file is not set"},
		{func(c *Config) { c.LocketClientKeyFile = "" }, "must both be set"},
		{func(c *Config) { c.LocketClientKeepAliveTime = -1 }, "negative"},
	} {
		c := ok
		tc.change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", c, err, tc.want)
		}
	}
	c := ok
	c.LocketCACertFile, c.SkipCertVerify = "", true
	if err := c.Validate(); err != nil {
		t.Errorf("skip-verify without CA: %v", err)
	}
}

func TestDialMissingFiles(t *testing.T) {
	_, err := Dial(Config{LocketAddress: "h:1", LocketCACertFile: "/nonexistent/ca.crt", LocketClientCertFile: "/nonexistent/c.crt", LocketClientKeyFile: "/nonexistent/c.key"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/c.crt") {
		t.Errorf("Dial with missing files: %v", err)
	}
}
