// Package render renders a job's templates for one instance: it builds the
// context the director would send (the job's declared properties with their
// defaults, the instance's spec, its resolved links) and runs the release's
// ERB renderer (src/bosh-template/render.rb).
package render

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/release"
)

// Context is what templates see.
type Context struct {
	Properties map[string]any  `json:"properties"`
	Spec       Spec            `json:"spec"`
	Links      map[string]Link `json:"links"`
}

// Spec is `spec` in a template.
type Spec struct {
	ID         string         `json:"id"`
	Index      int            `json:"index"`
	AZ         string         `json:"az"`
	Address    string         `json:"address"`
	IP         string         `json:"ip"`
	Deployment string         `json:"deployment"`
	Name       string         `json:"name"`
	Bootstrap  bool           `json:"bootstrap"`
	Networks   map[string]any `json:"networks"`
	Release    map[string]any `json:"release,omitempty"`
}

// Link is a resolved link.
type Link struct {
	Properties map[string]any `json:"properties"`
	Instances  []LinkInstance `json:"instances"`
	Address    string         `json:"address"`
}

// LinkInstance is one instance of a link's provider.
type LinkInstance struct {
	Address   string `json:"address"`
	ID        string `json:"id"`
	Index     int    `json:"index"`
	AZ        string `json:"az"`
	Name      string `json:"name"`
	Bootstrap bool   `json:"bootstrap"`
}

// Properties resolves the properties a job declares, as the director does:
// the manifest's value, else the spec's default; undeclared manifest
// properties are not passed on.
func Properties(job *release.Job, manifest map[string]any) map[string]any {
	out := map[string]any{}
	for name, decl := range job.Properties {
		v, ok := Lookup(manifest, name)
		if !ok {
			if !decl.HasDefault {
				continue
			}
			v = decl.Default
		}
		Set(out, name, v)
	}
	return out
}

// Lookup finds a dotted property name in nested maps.
func Lookup(props map[string]any, name string) (any, bool) {
	var cur any = props
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set sets a dotted property name in nested maps.
func Set(props map[string]any, name string, v any) {
	parts := strings.Split(name, ".")
	m := props
	for _, part := range parts[:len(parts)-1] {
		next, ok := m[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[part] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// Renderer runs render.rb.
type Renderer struct {
	Run    host.Runner
	Script string // path of render.rb
}

// Render renders job for the context into outDir (outDir/monit and each
// template at its rendered path); bin/ files are made executable, as the
// agent does.
func (r Renderer) Render(ctx context.Context, job *release.Job, c Context, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("render context for %s: %w", job.Name, err)
	}
	// The context holds secrets (passwords, keys): keep it private and
	// remove it once rendered.
	f, err := os.CreateTemp(filepath.Dir(outDir), ".ctx-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if _, err := r.Run.Command(ctx, "ruby", r.Script, "--job-dir", job.Dir, "--context", f.Name(), "--output-dir", outDir); err != nil {
		return fmt.Errorf("rendering job %s for %s/%d: %w", job.Name, c.Spec.Name, c.Spec.Index, err)
	}
	return MakeBinExecutable(outDir)
}

// MakeBinExecutable gives every file under dir/bin mode 0755.
func MakeBinExecutable(dir string) error {
	bins, _ := filepath.Glob(filepath.Join(dir, "bin", "*"))
	for _, b := range bins {
		if err := os.Chmod(b, 0o755); err != nil {
			return err
		}
	}
	return nil
}
