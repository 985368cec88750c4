// Package release reads a BOSH release directory (jobs/, packages/, src/,
// blobs/) the way `bosh create-release` does, and compiles its packages by
// running their packaging scripts, caching the results by fingerprint as the
// director's compiled-package cache does.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	boshsys "github.com/cloudfoundry/bosh-utils/system"
	"go.yaml.in/yaml/v3"
)

// Release is a release directory's jobs and packages.
type Release struct {
	Dir      string
	Name     string
	Version  string // 0+dev.<fingerprint of all jobs and packages>
	Jobs     map[string]*Job
	Packages map[string]*Package
}

// Job is a job's spec.
type Job struct {
	Name        string
	Dir         string
	Fingerprint string
	Templates   map[string]string
	Packages    []string
	Consumes    []Link
	Provides    []Link
	Properties  map[string]Property // dotted name
}

// Link is a consumed or provided link.
type Link struct {
	Name       string   `yaml:"name"`
	Type       string   `yaml:"type"`
	Optional   bool     `yaml:"optional"`
	Properties []string `yaml:"properties"`
}

// Property is a job property's declaration.
type Property struct {
	Default    any
	HasDefault bool
}

// Package is a package's spec and the files it names.
type Package struct {
	Name         string
	Dir          string
	Dependencies []string
	Files        map[string]string // path relative to the compile target -> host path
	Fingerprint  string
}

type jobSpec struct {
	Name       string               `yaml:"name"`
	Templates  map[string]string    `yaml:"templates"`
	Packages   []string             `yaml:"packages"`
	Consumes   []Link               `yaml:"consumes"`
	Provides   []Link               `yaml:"provides"`
	Properties map[string]yaml.Node `yaml:"properties"`
}

type packageSpec struct {
	Name          string   `yaml:"name"`
	Dependencies  []string `yaml:"dependencies"`
	Files         []string `yaml:"files"`
	ExcludedFiles []string `yaml:"excluded_files"`
}

// Load reads the release in dir.
func Load(fs boshsys.FileSystem, dir string) (*Release, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Release{Dir: dir, Jobs: map[string]*Job{}, Packages: map[string]*Package{}}
	var final struct {
		Name string `yaml:"name"`
	}
	if err := readYAML(fs, filepath.Join(dir, "config", "final.yml"), &final); err != nil {
		return nil, fmt.Errorf("release name: %w", err)
	}
	r.Name = final.Name
	jobDirs, _ := filepath.Glob(filepath.Join(dir, "jobs", "*", "spec"))
	for _, spec := range jobDirs {
		j, err := loadJob(fs, filepath.Dir(spec))
		if err != nil {
			return nil, err
		}
		r.Jobs[j.Name] = j
	}
	pkgDirs, _ := filepath.Glob(filepath.Join(dir, "packages", "*", "spec"))
	for _, spec := range pkgDirs {
		p, err := loadPackage(fs, dir, filepath.Dir(spec))
		if err != nil {
			return nil, err
		}
		r.Packages[p.Name] = p
	}
	if len(r.Jobs) == 0 {
		return nil, fmt.Errorf("release %s has no jobs", dir)
	}
	for _, j := range r.Jobs {
		for _, p := range j.Packages {
			if r.Packages[p] == nil {
				return nil, fmt.Errorf("job %s needs package %s, which the release does not have", j.Name, p)
			}
		}
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(r.Packages)) {
		if err := r.fingerprint(name, nil); err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "package %s %s\n", name, r.Packages[name].Fingerprint)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Jobs)) {
		fmt.Fprintf(h, "job %s %s\n", name, r.Jobs[name].Fingerprint)
	}
	r.Version = "0+dev." + hex.EncodeToString(h.Sum(nil))[:10]
	return r, nil
}

func loadJob(fs boshsys.FileSystem, dir string) (*Job, error) {
	var s jobSpec
	if err := readYAML(fs, filepath.Join(dir, "spec"), &s); err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, fmt.Errorf("job spec %s has no name", dir)
	}
	j := &Job{Name: s.Name, Dir: dir, Templates: s.Templates, Packages: s.Packages, Consumes: s.Consumes,
		Provides: s.Provides, Properties: map[string]Property{}}
	for name, node := range s.Properties {
		var decl struct {
			Default yaml.Node `yaml:"default"`
		}
		if err := node.Decode(&decl); err != nil {
			return nil, fmt.Errorf("job %s property %s: %w", s.Name, name, err)
		}
		p := Property{}
		if decl.Default.Kind != 0 {
			p.HasDefault = true
			if err := decl.Default.Decode(&p.Default); err != nil {
				return nil, fmt.Errorf("job %s property %s default: %w", s.Name, name, err)
			}
		}
		j.Properties[name] = p
	}
	files := []string{"spec", "monit"}
	for src := range s.Templates {
		files = append(files, filepath.Join("templates", src))
	}
	fp, err := hashFiles(dir, files)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", s.Name, err)
	}
	j.Fingerprint = fp
	return j, nil
}

func loadPackage(fs boshsys.FileSystem, releaseDir, dir string) (*Package, error) {
	var s packageSpec
	if err := readYAML(fs, filepath.Join(dir, "spec"), &s); err != nil {
		return nil, err
	}
	p := &Package{Name: s.Name, Dir: dir, Dependencies: s.Dependencies, Files: map[string]string{}}
	excluded := map[string]bool{}
	for _, base := range []string{"src", "blobs"} {
		for _, g := range s.ExcludedFiles {
			m, err := fs.RecursiveGlob(filepath.Join(releaseDir, base, g))
			if err != nil {
				return nil, fmt.Errorf("package %s excluded_files %q: %w", s.Name, g, err)
			}
			for _, f := range m {
				excluded[f] = true
			}
		}
	}
	for _, g := range s.Files {
		found := false
		// Like `bosh create-release`, a glob matches under src/ first and
		// under blobs/ when src/ has nothing.
		for _, base := range []string{"src", "blobs"} {
			m, err := fs.RecursiveGlob(filepath.Join(releaseDir, base, g))
			if err != nil {
				return nil, fmt.Errorf("package %s files %q: %w", s.Name, g, err)
			}
			for _, f := range m {
				fi, err := os.Stat(f)
				if err != nil || fi.IsDir() || excluded[f] {
					continue
				}
				rel, _ := filepath.Rel(filepath.Join(releaseDir, base), f)
				p.Files[rel] = f
				found = true
			}
			if found {
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("package %s: no file matches %q under src/ or blobs/ (blobs not fetched?)", s.Name, g)
		}
	}
	return p, nil
}

// fingerprint hashes a package's packaging script, files and, recursively,
// its dependencies' fingerprints.
func (r *Release) fingerprint(name string, seen []string) error {
	p := r.Packages[name]
	if p == nil {
		return fmt.Errorf("package %s is not in the release", name)
	}
	if p.Fingerprint != "" {
		return nil
	}
	for _, s := range seen {
		if s == name {
			return fmt.Errorf("package dependency cycle: %s", strings.Join(append(seen, name), " -> "))
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "name %s\n", name)
	for _, d := range p.Dependencies {
		if err := r.fingerprint(d, append(seen, name)); err != nil {
			return err
		}
		fmt.Fprintf(h, "dependency %s %s\n", d, r.Packages[d].Fingerprint)
	}
	files := map[string]string{"packaging": filepath.Join(p.Dir, "packaging")}
	for rel, f := range p.Files {
		files["files/"+rel] = f
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		sum, mode, err := hashFile(files[rel])
		if err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s %o %s\n", rel, mode, sum)
	}
	p.Fingerprint = hex.EncodeToString(h.Sum(nil))[:40]
	return nil
}

// Order returns the named packages and all their dependencies, each after
// its dependencies.
func (r *Release) Order(names []string) []*Package {
	var out []*Package
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		for _, d := range r.Packages[n].Dependencies {
			visit(d)
		}
		out = append(out, r.Packages[n])
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

func hashFiles(dir string, rels []string) (string, error) {
	sort.Strings(rels)
	h := sha256.New()
	for _, rel := range rels {
		sum, mode, err := hashFile(filepath.Join(dir, rel))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %o %s\n", rel, mode, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:40], nil
}

func hashFile(path string) (string, os.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), fi.Mode().Perm() & 0o111, nil
}

func readYAML(fs boshsys.FileSystem, path string, v any) error {
	b, err := fs.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	return nil
}
