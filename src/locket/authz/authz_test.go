package authz

import "testing"

func TestAllow(t *testing.T) {
	c := Config{Rules: []Rule{
		{Name: "cells", Identity: Match{OU: []string{"cell"}}, Types: []string{"presence"},
			Operations: []string{"lock", "release", "fetch", "fetch_all"}},
		{Name: "bbs", Identity: Match{CN: []string{"bbs"}}, Keys: []string{"bbs"}},
		{Name: "readers", Identity: Match{SAN: []string{"ops.example"}}, Operations: []string{"fetch", "fetch_all", "watch", "history"}},
		{Name: "auct", Identity: Match{CN: []string{"auctioneer"}}, Keys: []string{"auct*"}, Types: []string{"lock"}},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cell := Identity{CN: "cell-1", OU: []string{"x", "cell"}}
	bbs := Identity{CN: "bbs"}
	ops := Identity{CN: "ops", SANs: []string{"10.0.0.1", "ops.example"}}
	auct := Identity{CN: "auctioneer"}
	for _, tc := range []struct {
		id   Identity
		req  Request
		want bool
	}{
		{cell, Request{"lock", "cell-1", "presence"}, true},
		{cell, Request{"lock", "bbs", "lock"}, false},
		{cell, Request{"fetch_all", "", "presence"}, true},
		{cell, Request{"fetch_all", "", "lock"}, false},
		{cell, Request{"watch", "", "presence"}, false},
		{cell, Request{"fetch", "bbs", ""}, false}, // type unknown: a type-restricted rule does not grant
		{bbs, Request{"lock", "bbs", "lock"}, true},
		{bbs, Request{"release", "bbs", "lock"}, true},
		{bbs, Request{"lock", "auctioneer", "lock"}, false},
		{bbs, Request{"fetch_all", "", "presence"}, false}, // key-restricted rule, no key
		{ops, Request{"history", "", ""}, true},
		{ops, Request{"lock", "bbs", "lock"}, false},
		{auct, Request{"lock", "auctioneer", "lock"}, true},
		{auct, Request{"lock", "auctioneer", "presence"}, false},
		{Identity{CN: "nobody"}, Request{"fetch", "bbs", ""}, false},
	} {
		if _, got := c.Allow(tc.id, tc.req); got != tc.want {
			t.Errorf("%+v %+v: got %v, want %v", tc.id, tc.req, got, tc.want)
		}
	}
	if _, ok := (Config{}).Allow(Identity{}, Request{"lock", "bbs", "lock"}); !ok {
		t.Fatal("no rules must allow everything")
	}
	bad := Config{Rules: []Rule{{Operations: []string{"lok"}, Types: []string{"locks"}}}}
	if err := bad.Validate(); err == nil {
		t.Fatal("bad rule accepted")
	}
}
