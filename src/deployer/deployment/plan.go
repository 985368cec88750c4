package deployment

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	boshuuid "github.com/cloudfoundry/bosh-utils/uuid"

	"github.com/locket-release/deployer/emulate"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/release"
)

// planner holds what one `up` works from: the manifest, the release and
// the instances the deployment will have.
type planner struct {
	name      string
	m         *manifest.Manifest
	rel       *release.Release
	groups    []manifest.InstanceGroup
	instances []*Instance
	providers []provider
	aliases   []emulate.Alias
}

// plan keeps the instances of d that the manifest still has (same id,
// address and VM), adds new ones and returns those to delete.
func plan(d *Deployment, m *manifest.Manifest, rel *release.Release) (*planner, []*Instance, error) {
	p := &planner{name: d.Name, m: m, rel: rel, groups: m.Groups()}
	existing := map[string]*Instance{}
	for _, i := range d.Instances {
		existing[i.Short()] = i
	}
	kept := map[*Instance]bool{}
	for _, g := range p.groups {
		network := "default"
		if len(g.Networks) > 0 && g.Networks[0].Name != "" {
			network = g.Networks[0].Name
		}
		for idx := 0; idx < g.Instances; idx++ {
			if i, ok := existing[fmt.Sprintf("%s/%d", g.Name, idx)]; ok {
				kept[i] = true
				p.instances = append(p.instances, i)
				continue
			}
			id, err := boshuuid.NewGenerator().Generate()
			if err != nil {
				return nil, nil, err
			}
			ip, err := ipFor(d.NextOrdinal)
			if err != nil {
				return nil, nil, err
			}
			az := ""
			if len(g.AZs) > 0 {
				az = g.AZs[idx%len(g.AZs)]
			}
			p.instances = append(p.instances, &Instance{Group: g.Name, Index: idx, ID: id, AZ: az, IP: ip,
				Network: network, Bootstrap: idx == 0, Ordinal: d.NextOrdinal})
			d.NextOrdinal++
		}
	}
	var obsolete []*Instance
	for _, i := range d.Instances {
		if !kept[i] {
			obsolete = append(obsolete, i)
		}
	}
	p.providers = providers(rel, p.groups)
	aliases, err := collectAliases(p.groups)
	if err != nil {
		return nil, nil, err
	}
	p.aliases = aliases
	return p, obsolete, nil
}

// address is spec.address: the IP, or the instance's BOSH DNS name when the
// manifest sets features.use_dns_addresses.
func (p *planner) address(i *Instance) string {
	if p.m.Features.UseDNSAddresses {
		return p.dnsName(i.ID, i.Group, i.Network)
	}
	return i.IP
}

func (p *planner) dnsName(host, group, network string) string {
	return strings.Join([]string{host, group, network, p.name, "bosh"}, ".")
}

// groupAddress is a link's address: the BOSH DNS name of all the group's
// instances.
func (p *planner) groupAddress(group string) string {
	network := "default"
	for _, i := range p.instances {
		if i.Group == group {
			network = i.Network
			break
		}
	}
	return p.dnsName("q-s0", group, network)
}

func (p *planner) group(name string) manifest.InstanceGroup {
	for _, g := range p.groups {
		if g.Name == name {
			return g
		}
	}
	return manifest.InstanceGroup{}
}

// collectAliases gathers the aliases of every bosh-dns-aliases job (an
// addon repeats them on each group; each domain is kept once).
func collectAliases(groups []manifest.InstanceGroup) ([]emulate.Alias, error) {
	byDomain := map[string]emulate.Alias{}
	for _, g := range groups {
		for _, j := range g.Jobs {
			if j.Name != "bosh-dns-aliases" {
				continue
			}
			as, err := emulate.Aliases(j.Properties)
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				byDomain[a.Domain] = a
			}
		}
	}
	var out []emulate.Alias
	for _, d := range slices.Sorted(maps.Keys(byDomain)) {
		out = append(out, byDomain[d])
	}
	return out, nil
}

// hosts is an instance's /etc/hosts: itself, every instance's BOSH DNS
// names and the aliases. A name with several addresses gets several lines,
// rotated by the instance's index so the instances of a group do not all
// try the same address first (BOSH DNS shuffles its answers).
func (p *planner) hosts(self *Instance) (string, []string) {
	var b strings.Builder
	var warnings []string
	fmt.Fprintf(&b, "127.0.0.1 localhost\n%s %s\n\n# BOSH DNS: instances and groups\n", self.IP, self.ID)
	for _, i := range p.instances {
		fmt.Fprintf(&b, "%s %s\n", i.IP, p.dnsName(i.ID, i.Group, i.Network))
	}
	groupNames := map[string][]string{}
	var order []string
	for _, i := range p.instances {
		n := p.dnsName("q-s0", i.Group, i.Network)
		if _, ok := groupNames[n]; !ok {
			order = append(order, n)
		}
		groupNames[n] = append(groupNames[n], i.IP)
	}
	for _, n := range order {
		for _, ip := range rotate(groupNames[n], self.Index) {
			fmt.Fprintf(&b, "%s %s\n", ip, n)
		}
	}
	if len(p.aliases) > 0 {
		b.WriteString("\n# bosh-dns-aliases\n")
	}
	for _, a := range p.aliases {
		var ips []string
		for _, t := range a.Targets {
			if t.Deployment != "" && t.Deployment != p.name {
				warnings = append(warnings, fmt.Sprintf("alias %s: target deployment %q is not this deployment (%s); skipped", a.Domain, t.Deployment, p.name))
				continue
			}
			for _, i := range p.instances {
				if i.Group != t.InstanceGroup {
					continue
				}
				switch {
				case t.Query == "_" || strings.HasPrefix(a.Domain, "_."):
					fmt.Fprintf(&b, "%s %s\n", i.IP, i.ID+strings.TrimPrefix(a.Domain, "_"))
				default:
					ips = append(ips, i.IP)
				}
			}
		}
		for _, ip := range rotate(ips, self.Index) {
			fmt.Fprintf(&b, "%s %s\n", ip, a.Domain)
		}
	}
	return b.String(), warnings
}

func rotate(s []string, by int) []string {
	if len(s) == 0 {
		return nil
	}
	by %= len(s)
	return append(append([]string(nil), s[by:]...), s[:by]...)
}
