// Package emulate stands in for the jobs of other releases that the example
// manifests use: pxc-mysql (release pxc) and postgres (release postgres)
// become a MariaDB or Postgres of the machine's Debian packages running
// inside the database VM under monit, seeded with the manifest's databases
// and users; bosh-dns-aliases becomes entries in every VM's hosts file.
//
// An emulated job is written like a rendered job: <dir>/monit and files
// under <dir> that land in /var/vcap/jobs/<job>/.
package emulate

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/locket-release/deployer/render"
)

// Job writes an emulated job for one instance into dir.
type Job func(props map[string]any, dir string) error

// Lookup returns the emulation of release/job.
func Lookup(release, job string) (Job, bool) {
	switch release + "/" + job {
	case "pxc/pxc-mysql":
		return mysql, true
	case "postgres/postgres":
		return postgres, true
	case "bosh-dns-aliases/bosh-dns-aliases":
		return dnsAliases, true
	}
	return nil, false
}

type file struct {
	path    string
	mode    os.FileMode
	content string
}

func write(dir string, files []file) error {
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			return fmt.Errorf("writing emulated job file %s: %w", f.path, err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func str(props map[string]any, path string, def string) string {
	v, ok := render.Lookup(props, path)
	if !ok || v == nil {
		return def
	}
	return fmt.Sprint(v)
}

func list(props map[string]any, path string) []map[string]any {
	v, _ := render.Lookup(props, path)
	items, _ := v.([]any)
	var out []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
