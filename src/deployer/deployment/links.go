package deployment

import (
	"fmt"
	"sort"
	"strings"

	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/release"
	"github.com/locket-release/deployer/render"
)

// provider is a link some job of the deployment provides.
type provider struct {
	group string
	job   *release.Job
	link  release.Link
	alias string // provides: {<name>: {as: alias}}
	props map[string]any
}

// providers lists every link the deployment's jobs of rel provide.
func providers(rel *release.Release, groups []manifest.InstanceGroup) []provider {
	var out []provider
	for _, g := range groups {
		for _, mj := range g.Jobs {
			spec := rel.Jobs[mj.Name]
			if mj.Release != rel.Name || spec == nil {
				continue
			}
			for _, l := range spec.Provides {
				alias := l.Name
				if v, ok := mj.Provides[l.Name]; ok {
					m, isMap := v.(map[string]any)
					if !isMap {
						continue // provides: {name: nil} provides nothing
					}
					if as, ok := m["as"].(string); ok && as != "" {
						alias = as
					}
				}
				out = append(out, provider{group: g.Name, job: spec, link: l, alias: alias,
					props: render.Properties(spec, mj.Properties)})
			}
		}
	}
	return out
}

// resolveLinks finds the provider of each link a job consumes, as the
// director does: `consumes: {name: {from: alias}}` or, without it, the only
// provider of the link's type. A consumes entry set to nil blocks the link.
func (p *planner) resolveLinks(spec *release.Job, mj manifest.Job) (map[string]render.Link, error) {
	links := map[string]render.Link{}
	for _, c := range spec.Consumes {
		from := ""
		if v, ok := mj.Consumes[c.Name]; ok {
			m, isMap := v.(map[string]any)
			if !isMap {
				continue
			}
			from, _ = m["from"].(string)
		}
		var found []provider
		for _, pr := range p.providers {
			if pr.link.Type == c.Type && (from == "" || pr.alias == from) {
				found = append(found, pr)
			}
		}
		if len(found) == 0 {
			if c.Optional && from == "" {
				continue
			}
			return nil, fmt.Errorf("job %s: no provider of link %s (type %s, from %q)", spec.Name, c.Name, c.Type, from)
		}
		if len(found) > 1 {
			var names []string
			for _, f := range found {
				names = append(names, f.group+"."+f.job.Name+"."+f.alias)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("job %s: link %s (type %s) has several providers (%s); pick one with consumes.%s.from",
				spec.Name, c.Name, c.Type, strings.Join(names, ", "), c.Name)
		}
		pr := found[0]
		props := map[string]any{}
		for _, name := range pr.link.Properties {
			if v, ok := render.Lookup(pr.props, name); ok {
				render.Set(props, name, v)
			}
		}
		l := render.Link{Properties: props, Address: p.groupAddress(pr.group)}
		for _, inst := range p.instances {
			if inst.Group == pr.group {
				l.Instances = append(l.Instances, render.LinkInstance{Address: p.address(inst), ID: inst.ID,
					Index: inst.Index, AZ: inst.AZ, Name: inst.Group, Bootstrap: inst.Bootstrap})
			}
		}
		links[c.Name] = l
	}
	return links, nil
}
