package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuthorizationAndHistoryRetention(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Authorization.Enabled() || c.HistoryRetention.D() != 7*24*time.Hour {
		t.Fatalf("defaults: %+v, %s", c.Authorization, c.HistoryRetention.D())
	}
	c, err = Parse([]byte(strings.Replace(minimal, "{", `{"history_retention": "24h", "authorization": {"rules": [
		{"name": "cells", "identity": {"ou": ["cell"]}, "types": ["presence"], "operations": ["lock", "release"]},
		{"identity": {"cn": ["bbs"], "san": ["bbs.service.cf.internal"]}, "keys": ["bbs"]}]},`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Authorization.Rules) != 2 || c.Authorization.Rules[1].Identity.SAN[0] != "bbs.service.cf.internal" ||
		c.HistoryRetention.D() != 24*time.Hour {
		t.Fatalf("parsed %+v, %s", c.Authorization, c.HistoryRetention.D())
	}
	for _, tc := range []struct{ json, want string }{
		{`"authorization": {"rules": [{"operations": ["steal"]}]}`, `operation "steal"`},
		{`"authorization": {"rules": [{"types": ["mutex"]}]}`, `type "mutex"`},
		{`"history_retention": "forever"`, "history_retention"},
		{`"authorization": {"rules": "all"}`, "authorization"},
	} {
		_, err := Parse([]byte(strings.Replace(minimal, "{", "{"+tc.json+",", 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", tc.json, err, tc.want)
		}
	}
}
