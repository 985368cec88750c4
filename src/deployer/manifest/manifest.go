// Package manifest interpolates a deployment manifest with the BOSH CLI
// (`bosh int`: ops files, variables, a vars store that generates passwords
// and certificates) and reads the parts the deployer acts on.
package manifest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/locket-release/deployer/host"
)

// Manifest is an interpolated deployment manifest.
type Manifest struct {
	Name           string          `yaml:"name"`
	Releases       []Release       `yaml:"releases"`
	Update         Update          `yaml:"update"`
	InstanceGroups []InstanceGroup `yaml:"instance_groups"`
	Addons         []Addon         `yaml:"addons"`
	Features       struct {
		UseDNSAddresses bool `yaml:"use_dns_addresses"`
	} `yaml:"features"`
}

// Release names a release the manifest uses.
type Release struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

// Update is an update block (deployment-wide or an instance group's).
type Update struct {
	Canaries        *int      `yaml:"canaries"`
	MaxInFlight     yaml.Node `yaml:"max_in_flight"`
	CanaryWatchTime yaml.Node `yaml:"canary_watch_time"`
	UpdateWatchTime yaml.Node `yaml:"update_watch_time"`
	Serial          *bool     `yaml:"serial"`
}

// InstanceGroup is one instance group.
type InstanceGroup struct {
	Name      string    `yaml:"name"`
	Instances int       `yaml:"instances"`
	AZs       []string  `yaml:"azs"`
	Jobs      []Job     `yaml:"jobs"`
	Networks  []Network `yaml:"networks"`
	Update    *Update   `yaml:"update"`
	// Lifecycle "errand" groups are not deployed.
	Lifecycle      string `yaml:"lifecycle"`
	PersistentDisk any    `yaml:"persistent_disk"`
}

// Network is an instance group's network.
type Network struct {
	Name      string   `yaml:"name"`
	StaticIPs []string `yaml:"static_ips"`
}

// Job is a job of an instance group.
type Job struct {
	Name       string         `yaml:"name"`
	Release    string         `yaml:"release"`
	Properties map[string]any `yaml:"properties"`
	Consumes   map[string]any `yaml:"consumes"`
	Provides   map[string]any `yaml:"provides"`
}

// Addon is a job set applied to every instance group.
type Addon struct {
	Name    string `yaml:"name"`
	Jobs    []Job  `yaml:"jobs"`
	Include *struct {
		InstanceGroups []string `yaml:"instance_groups"`
	} `yaml:"include"`
	Exclude *struct {
		InstanceGroups []string `yaml:"instance_groups"`
	} `yaml:"exclude"`
}

// Invocation is how a manifest is interpolated: `bosh int` arguments.
type Invocation struct {
	Path     string   `json:"path"`
	OpsFiles []string `json:"ops_files,omitempty"`
	Vars     []string `json:"vars,omitempty"`      // -v name=value
	VarFiles []string `json:"var_files,omitempty"` // -l file
}

// Interpolate runs `bosh int` with a vars store (which generates the
// manifest's password and certificate variables on first use and keeps
// them) and returns the resulting YAML.
func Interpolate(ctx context.Context, run host.Runner, bosh, varsStore string, inv Invocation) ([]byte, error) {
	args := []string{"int", inv.Path, "--vars-store", varsStore, "--var-errs"}
	for _, o := range inv.OpsFiles {
		args = append(args, "-o", o)
	}
	for _, v := range inv.Vars {
		args = append(args, "-v", v)
	}
	for _, l := range inv.VarFiles {
		args = append(args, "-l", l)
	}
	out, err := run.Command(ctx, bosh, args...)
	if err != nil {
		return nil, fmt.Errorf("interpolating %s: %w", inv.Path, err)
	}
	return []byte(out), nil
}

// Parse reads an interpolated manifest and checks what the deployer needs.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	if m.Name == "" {
		return nil, fmt.Errorf("manifest has no name")
	}
	seen := map[string]bool{}
	for _, g := range m.InstanceGroups {
		if g.Name == "" || seen[g.Name] {
			return nil, fmt.Errorf("instance group name %q is empty or repeated", g.Name)
		}
		seen[g.Name] = true
		if g.Instances < 0 {
			return nil, fmt.Errorf("instance group %s: negative instances", g.Name)
		}
	}
	return &m, nil
}

// Groups returns the instance groups that are deployed (not errands), with
// the addons' jobs added to the groups they apply to.
func (m *Manifest) Groups() []InstanceGroup {
	var out []InstanceGroup
	for _, g := range m.InstanceGroups {
		if g.Lifecycle == "errand" {
			continue
		}
		for _, a := range m.Addons {
			if a.applies(g.Name) {
				g.Jobs = append(append([]Job(nil), g.Jobs...), a.Jobs...)
			}
		}
		out = append(out, g)
	}
	return out
}

func (a Addon) applies(group string) bool {
	if a.Exclude != nil && contains(a.Exclude.InstanceGroups, group) {
		return false
	}
	if a.Include != nil && len(a.Include.InstanceGroups) > 0 {
		return contains(a.Include.InstanceGroups, group)
	}
	return true
}

// UpdatePolicy is an instance group's effective update block.
type UpdatePolicy struct {
	Canaries        int
	MaxInFlight     int
	CanaryWatchTime WatchTime
	UpdateWatchTime WatchTime
}

// WatchTime is a "min-max" watch time: how long after starting the jobs
// to first check that they run, and how long to keep checking.
type WatchTime struct{ Min, Max time.Duration }

// Policy merges the group's update block over the deployment's.
func (m *Manifest) Policy(g InstanceGroup) (UpdatePolicy, error) {
	p := UpdatePolicy{Canaries: 1, MaxInFlight: 1, CanaryWatchTime: WatchTime{Max: 60 * time.Second}, UpdateWatchTime: WatchTime{Max: 60 * time.Second}}
	for _, u := range []*Update{&m.Update, g.Update} {
		if u == nil {
			continue
		}
		if u.Canaries != nil {
			p.Canaries = *u.Canaries
		}
		if u.MaxInFlight.Kind != 0 {
			n, err := maxInFlight(u.MaxInFlight.Value, g.Instances)
			if err != nil {
				return p, fmt.Errorf("instance group %s: %w", g.Name, err)
			}
			p.MaxInFlight = n
		}
		for _, w := range []struct {
			node *yaml.Node
			dst  *WatchTime
		}{{&u.CanaryWatchTime, &p.CanaryWatchTime}, {&u.UpdateWatchTime, &p.UpdateWatchTime}} {
			if w.node.Kind == 0 {
				continue
			}
			d, err := watchTime(w.node.Value)
			if err != nil {
				return p, fmt.Errorf("instance group %s: %w", g.Name, err)
			}
			*w.dst = d
		}
	}
	if p.MaxInFlight < 1 {
		p.MaxInFlight = 1
	}
	return p, nil
}

// maxInFlight reads "2" or "50%" (of the group's instances, at least 1).
func maxInFlight(v string, instances int) (int, error) {
	if strings.HasSuffix(v, "%") {
		pct, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil {
			return 0, fmt.Errorf("max_in_flight %q: %w", v, err)
		}
		return max(1, instances*pct/100), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("max_in_flight %q: %w", v, err)
	}
	return n, nil
}

// watchTime reads "1000-60000" or "30000" (milliseconds).
func watchTime(v string) (WatchTime, error) {
	parts := strings.Split(v, "-")
	var ms []time.Duration
	for _, part := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 || len(parts) > 2 {
			return WatchTime{}, fmt.Errorf("watch time %q: want milliseconds or min-max", v)
		}
		ms = append(ms, time.Duration(n)*time.Millisecond)
	}
	w := WatchTime{Min: ms[0], Max: ms[len(ms)-1]}
	if len(ms) == 1 {
		w.Min = 0
	}
	if w.Min > w.Max {
		return WatchTime{}, fmt.Errorf("watch time %q: min above max", v)
	}
	return w, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
