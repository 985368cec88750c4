package emulate

import (
	"encoding/json"
	"fmt"

	"github.com/locket-release/deployer/render"
)

// Alias is one bosh-dns-aliases entry.
type Alias struct {
	Domain  string   `json:"domain"`
	Targets []Target `json:"targets"`
}

// Target is where an alias points: instances of an instance group; query
// "*" is all of them under the alias's name, "_" one name per instance
// (the alias's leading "_" replaced by the instance id).
type Target struct {
	Query         string `json:"query"`
	InstanceGroup string `json:"instance_group"`
	Deployment    string `json:"deployment"`
	Network       string `json:"network"`
	Domain        string `json:"domain"`
}

// Aliases reads a bosh-dns-aliases job's aliases property.
func Aliases(props map[string]any) ([]Alias, error) {
	v, ok := render.Lookup(props, "aliases")
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out []Alias
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("bosh-dns-aliases: aliases: %w", err)
	}
	return out, nil
}

// dnsAliases has no process: BOSH DNS serves the aliases, here the
// deployer writes them into each VM's hosts file. The job keeps the file
// the real one renders, for an operator to look at.
func dnsAliases(props map[string]any, dir string) error {
	aliases, err := Aliases(props)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(aliases, "", "  ")
	if err != nil {
		return err
	}
	return write(dir, []file{{"monit", 0o644, ""}, {"dns/aliases.json", 0o644, string(b) + "\n"}})
}
