// Package deployment stands a manifest up on this machine the way a BOSH
// director would: one VM (namespaces, see package vm) per instance,
// compiled packages, rendered jobs, monit, links and DNS aliases, updated
// group by group with canaries and max_in_flight; and takes it down again.
package deployment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/vm"
)

// State is what the deployer remembers about a deployment between runs.
type State struct {
	Name        string              `json:"name"`
	Release     ReleaseRef          `json:"release"`
	Manifest    manifest.Invocation `json:"manifest"`
	Instances   []*Instance         `json:"instances"`
	NextOrdinal int                 `json:"next_ordinal"`
}

// ReleaseRef is the release a deployment runs.
type ReleaseRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dir     string `json:"dir"`
}

// Instance is one instance and its VM.
type Instance struct {
	Group     string   `json:"group"`
	Index     int      `json:"index"`
	ID        string   `json:"id"`
	AZ        string   `json:"az"`
	IP        string   `json:"ip"`
	Network   string   `json:"network"`
	Bootstrap bool     `json:"bootstrap"`
	Ordinal   int      `json:"ordinal"` // numbers its veth and address
	Applied   string   `json:"applied,omitempty"`
	Version   string   `json:"version,omitempty"` // release version applied
	Jobs      []string `json:"jobs,omitempty"`
}

// Name is group/id, how BOSH names an instance.
func (i *Instance) Name() string { return i.Group + "/" + i.ID }

// Short is group/index.
func (i *Instance) Short() string { return i.Group + "/" + strconv.Itoa(i.Index) }

// Subnet of every deployment's VMs; addresses exist only inside the
// deployment's namespaces.
const (
	subnetPrefix = "10.244.0."
	subnetBits   = "/24"
	firstHost    = 2
)

func ipFor(ordinal int) (string, error) {
	host := firstHost + ordinal
	if host > 254 {
		return "", fmt.Errorf("no address left in %s0%s", subnetPrefix, subnetBits)
	}
	return subnetPrefix + strconv.Itoa(host), nil
}

// Deployment is a deployment's state plus the handles to act on it.
type Deployment struct {
	State
	Dir    string // <root>/deployments/<name>
	prefix string // of its namespaces
	run    host.Runner
}

// prefix names every namespace of a deployment: "lkt", a hash of the
// deployer's state directory (two checkouts on one machine never touch
// each other's VMs) and the deployment's name.
func prefix(root, name string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(root)))
	return "lkt" + hex.EncodeToString(sum[:])[:6] + "-" + name + "-"
}

// Network is the deployment's switch and namespaces.
func (d *Deployment) Network() vm.Network { return vm.Network{Prefix: d.prefix, Run: d.run} }

// VM is an instance's VM.
func (d *Deployment) VM(i *Instance) vm.VM {
	return vm.Open(d.run, d.prefix+i.Group+"-"+strconv.Itoa(i.Index), filepath.Join(d.Dir, "vms", i.Group+"-"+strconv.Itoa(i.Index)))
}

// Find returns the instance named group/index or group/id.
func (d *Deployment) Find(name string) (*Instance, error) {
	group, which, ok := strings.Cut(name, "/")
	if !ok {
		return nil, fmt.Errorf("instance %q: want <group>/<index> or <group>/<id>", name)
	}
	for _, i := range d.Instances {
		if i.Group == group && (strconv.Itoa(i.Index) == which || i.ID == which) {
			return i, nil
		}
	}
	return nil, fmt.Errorf("deployment %s has no instance %s", d.Name, name)
}

// Group returns a group's instances in index order.
func (d *Deployment) Group(name string) []*Instance {
	var out []*Instance
	for _, i := range d.Instances {
		if i.Group == name {
			out = append(out, i)
		}
	}
	return out
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

func (d *Deployment) save() error {
	b, err := json.MarshalIndent(d.State, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(d.Dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return os.Rename(tmp, statePath(d.Dir))
}

// deployment returns the handle of a deployment with no state yet.
func (dp *Deployer) deployment(name string) *Deployment {
	return &Deployment{State: State{Name: name}, Dir: dp.deploymentDir(name), prefix: prefix(dp.Root, name), run: dp.Run}
}

// load reads a deployment's state.
func (dp *Deployer) load(name string) (*Deployment, error) {
	d := dp.deployment(name)
	b, err := os.ReadFile(statePath(d.Dir))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &d.State); err != nil {
		return nil, fmt.Errorf("reading %s: %w", statePath(d.Dir), err)
	}
	return d, nil
}
