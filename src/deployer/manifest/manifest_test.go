package manifest

import (
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	m, err := Parse([]byte(`
name: d
update: {canaries: 1, max_in_flight: 2, canary_watch_time: 1000-30000, update_watch_time: 5000}
instance_groups:
- name: a
  instances: 4
  update: {max_in_flight: 50%, canary_watch_time: 2000-3000}
- name: b
  instances: 1
  lifecycle: errand
addons:
- name: x
  jobs: [{name: j, release: r}]
  exclude: {instance_groups: [a]}
`))
	if err != nil {
		t.Fatal(err)
	}
	groups := m.Groups()
	if len(groups) != 1 || groups[0].Name != "a" || len(groups[0].Jobs) != 0 {
		t.Fatalf("groups (errand skipped, addon excluded): %+v", groups)
	}
	p, err := m.Policy(groups[0])
	if err != nil {
		t.Fatal(err)
	}
	want := UpdatePolicy{Canaries: 1, MaxInFlight: 2,
		CanaryWatchTime: WatchTime{2 * time.Second, 3 * time.Second}, UpdateWatchTime: WatchTime{0, 5 * time.Second}}
	if p != want {
		t.Errorf("policy %+v, want %+v", p, want)
	}
}

func TestBadInput(t *testing.T) {
	for _, doc := range []string{
		"instance_groups: []",
		"name: d\ninstance_groups: [{name: a}, {name: a}]",
		"name: d\ninstance_groups: [{name: a, instances: -1}]",
		"name: [",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) accepted", doc)
		}
	}
	for _, w := range []string{"abc", "5-", "3-2", "1-2-3"} {
		if _, err := watchTime(w); err == nil {
			t.Errorf("watchTime(%q) accepted", w)
		}
	}
	if _, err := maxInFlight("x%", 3); err == nil {
		t.Error("max_in_flight x% accepted")
	}
}
