package deployment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/locket-release/deployer/emulate"
	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/monit"
	"github.com/locket-release/deployer/release"
	"github.com/locket-release/deployer/vm"
)

// Deployer deploys manifests onto this machine.
type Deployer struct {
	Run      host.Runner
	Root     string // state: deployments/<name>/, packages/ (compiled), gocache/
	Bosh     string // the BOSH CLI, for `bosh int`
	Renderer string // render.rb
	Out      io.Writer
	// OnUpdated, when set, is called after each instance is updated and
	// running (drills look at the deployment mid-roll).
	OnUpdated func(inst *Instance, canary bool)
	mu        sync.Mutex // Out and state saves during parallel updates
}

// UpOptions says what to deploy.
type UpOptions struct {
	ReleaseDir string
	Manifest   manifest.Invocation
}

func (dp *Deployer) say(format string, args ...any) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	fmt.Fprintf(dp.Out, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (dp *Deployer) deploymentDir(name string) string {
	return filepath.Join(dp.Root, "deployments", name)
}

// Open loads a deployment; an empty name means the only one there is.
func (dp *Deployer) Open(name string) (*Deployment, error) {
	if name == "" {
		entries, _ := os.ReadDir(filepath.Join(dp.Root, "deployments"))
		var names []string
		for _, e := range entries {
			if dp.Run.FS.FileExists(statePath(dp.deploymentDir(e.Name()))) {
				names = append(names, e.Name())
			}
		}
		if len(names) != 1 {
			return nil, fmt.Errorf("%d deployments exist (%s): name one with -d", len(names), strings.Join(names, ", "))
		}
		name = names[0]
	}
	d, err := dp.load(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("deployment %s does not exist (run up first)", name)
	}
	return d, err
}

// Up deploys: creates the deployment, or updates it to the manifest and
// release given, as `bosh deploy` does. If it is interrupted (ctx ends), it
// takes the whole deployment down again.
func (dp *Deployer) Up(ctx context.Context, o UpOptions) (err error) {
	name, err := manifestName(o.Manifest.Path)
	if err != nil {
		return err
	}
	dir := dp.deploymentDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	defer func() {
		if err != nil && ctx.Err() != nil {
			dp.say("interrupted: taking deployment %s down", name)
			downCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if derr := dp.down(downCtx, name, false); derr != nil {
				dp.say("cleanup failed: %v", derr)
			}
		}
	}()

	d, err := dp.openOrReset(ctx, name, dir)
	if err != nil {
		return err
	}
	rel, err := release.Load(dp.Run.FS, o.ReleaseDir)
	if err != nil {
		return err
	}
	b, err := manifest.Interpolate(ctx, dp.Run, dp.Bosh, filepath.Join(dir, "vars-store.yml"), o.Manifest)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.yml"), b, 0o600); err != nil {
		return err
	}
	m, err := manifest.Parse(b)
	if err != nil {
		return err
	}
	if m.Name != name {
		return fmt.Errorf("ops files rename the deployment (%s -> %s): not supported", name, m.Name)
	}
	p, obsolete, err := plan(d, m, rel)
	if err != nil {
		return err
	}
	if err := checkJobs(p); err != nil {
		return err
	}
	dp.say("Deployment %s: release %s/%s from %s", name, rel.Name, rel.Version, rel.Dir)

	if err := dp.prepareHost(ctx); err != nil {
		return err
	}
	if err := d.Network().Ensure(ctx); err != nil {
		return err
	}
	compiled, err := dp.compile(ctx, p)
	if err != nil {
		return err
	}
	plans, err := dp.renderAll(ctx, d, p, compiled)
	if err != nil {
		return err
	}
	d.Manifest = o.Manifest
	// Like the director, delete unneeded instances first.
	for _, inst := range obsolete {
		dp.say("Deleting instance %s (%d)", inst.Name(), inst.Index)
		dp.stopVM(ctx, d, inst)
		if err := d.VM(inst).Destroy(ctx); err != nil {
			return err
		}
		_ = os.RemoveAll(d.VM(inst).Dir)
	}
	if err := dp.removeStrays(ctx, d, p.instances); err != nil {
		return err
	}
	for _, inst := range p.instances {
		if d.VM(inst).Running() {
			continue
		}
		if err := dp.createVM(ctx, d, inst); err != nil {
			return err
		}
	}
	d.Instances = p.instances
	if err := d.save(); err != nil {
		return err
	}
	for _, inst := range p.instances {
		text, warnings := p.hosts(inst)
		for _, w := range warnings {
			if inst == p.instances[0] {
				dp.say("warning: %s", w)
			}
		}
		if err := writeInPlace(d.VM(inst).HostsFile(), text); err != nil {
			return err
		}
	}
	for _, g := range p.groups {
		if err := dp.updateGroup(ctx, d, p, g, plans); err != nil {
			return err
		}
	}
	for _, inst := range p.instances {
		if err := dp.runHook(ctx, d, inst, plans[inst], "post-deploy"); err != nil {
			return err
		}
	}
	d.Release = ReleaseRef{Name: rel.Name, Version: rel.Version, Dir: rel.Dir}
	if err := d.save(); err != nil {
		return err
	}
	dp.say("Deployment %s is up: %d instances, release %s/%s", name, len(p.instances), rel.Name, rel.Version)
	return nil
}

// renderAll renders every instance's jobs, a few at a time (each template
// rendering is a ruby process).
func (dp *Deployer) renderAll(ctx context.Context, d *Deployment, p *planner, compiled map[string]string) (map[*Instance]*instancePlan, error) {
	plans := make([]*instancePlan, len(p.instances))
	errs := make([]error, len(p.instances))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for k, inst := range p.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			plans[k], errs[k] = dp.renderInstance(ctx, d, p, inst, compiled)
		}()
	}
	wg.Wait()
	out := map[*Instance]*instancePlan{}
	for k, inst := range p.instances {
		if errs[k] != nil {
			return nil, errs[k]
		}
		out[inst] = plans[k]
	}
	return out, nil
}

// openOrReset returns the deployment's state if all its VMs run; leftovers
// of a killed run (state without running VMs, namespaces without state)
// are removed first and a fresh deployment starts.
func (dp *Deployer) openOrReset(ctx context.Context, name, dir string) (*Deployment, error) {
	d, err := dp.load(name)
	if err == nil {
		alive := len(d.Instances) > 0
		for _, i := range d.Instances {
			if !d.VM(i).Running() {
				alive = false
			}
		}
		if alive {
			return d, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	fresh := dp.deployment(name)
	leftovers, err := fresh.Network().Namespaces()
	if err != nil {
		return nil, err
	}
	if d != nil || len(leftovers) > 0 {
		dp.say("Removing leftovers of an earlier run of %s", name)
		if err := fresh.Network().DestroyAll(ctx); err != nil {
			return nil, err
		}
	}
	_ = os.RemoveAll(filepath.Join(dir, "vms"))
	_ = os.Remove(statePath(dir))
	return fresh, nil
}

// removeStrays deletes namespaces of the deployment that belong to no
// instance (a VM whose deletion was interrupted).
func (dp *Deployer) removeStrays(ctx context.Context, d *Deployment, instances []*Instance) error {
	names, err := d.Network().Namespaces()
	if err != nil {
		return err
	}
	keep := map[string]bool{d.Network().SwitchName(): true}
	for _, inst := range instances {
		keep[d.VM(inst).Netns] = true
	}
	for _, n := range names {
		if !keep[n] {
			dp.say("Deleting stray VM namespace %s", n)
			if err := vm.Open(dp.Run, n, "").Destroy(ctx); err != nil {
				return err
			}
		}
	}
	keepDirs := map[string]bool{}
	for _, inst := range instances {
		keepDirs[d.VM(inst).Dir] = true
	}
	dirs, _ := filepath.Glob(filepath.Join(d.Dir, "vms", "*"))
	for _, dir := range dirs {
		if !keepDirs[dir] {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepareHost makes what every VM shares with the machine: the vcap user
// the jobs run as (as on a stemcell) and the /var/vcap mount point.
func (dp *Deployer) prepareHost(ctx context.Context) error {
	if _, err := dp.Run.Command(ctx, "id", "vcap"); err != nil {
		dp.say("Creating user vcap (jobs run as vcap, as on a stemcell)")
		if _, err := dp.Run.Command(ctx, "useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/var/vcap", "--shell", "/bin/bash", "vcap"); err != nil {
			return fmt.Errorf("creating user vcap: %w", err)
		}
	}
	return os.MkdirAll("/var/vcap", 0o755)
}

// checkJobs refuses jobs that are neither in the release nor emulated.
func checkJobs(p *planner) error {
	for _, g := range p.groups {
		for _, j := range g.Jobs {
			if j.Release == p.rel.Name {
				if p.rel.Jobs[j.Name] == nil {
					return fmt.Errorf("instance group %s: release %s has no job %s", g.Name, p.rel.Name, j.Name)
				}
				continue
			}
			if _, ok := emulate.Lookup(j.Release, j.Name); !ok {
				return fmt.Errorf("instance group %s: job %s of release %s is neither in release %s nor emulated by the deployer",
					g.Name, j.Name, j.Release, p.rel.Name)
			}
		}
	}
	return nil
}

func (dp *Deployer) compile(ctx context.Context, p *planner) (map[string]string, error) {
	var names []string
	seen := map[string]bool{}
	for _, g := range p.groups {
		for _, j := range g.Jobs {
			if j.Release != p.rel.Name {
				continue
			}
			for _, pkg := range p.rel.Jobs[j.Name].Packages {
				if !seen[pkg] {
					seen[pkg] = true
					names = append(names, pkg)
				}
			}
		}
	}
	return dp.Compile(ctx, p.rel, names)
}

// Compile compiles packages of a release (and their dependencies) into the
// deployer's compiled-package cache and returns where each one is.
func (dp *Deployer) Compile(ctx context.Context, rel *release.Release, names []string) (map[string]string, error) {
	c := release.Compiler{Run: dp.Run, Cache: filepath.Join(dp.Root, "packages"),
		Env:      map[string]string{"GOCACHE": filepath.Join(dp.Root, "gocache")},
		Progress: dp.say}
	if err := os.MkdirAll(c.Cache, 0o755); err != nil {
		return nil, err
	}
	return c.Compile(ctx, rel, names)
}

// createVM lays out a new instance's disk the way a stemcell and the agent
// do, writes its monit control file and boots it.
func (dp *Deployer) createVM(ctx context.Context, d *Deployment, inst *Instance) error {
	v := d.VM(inst)
	dp.say("Creating VM for instance %s (%d) at %s", inst.Name(), inst.Index, inst.IP)
	if err := os.RemoveAll(v.Dir); err != nil {
		return err
	}
	vcap := v.Vcap()
	for _, sub := range []string{"bosh/etc", "bosh/bin", "bosh/log", "monit/job", "data/sys/log", "data/sys/run",
		"data/packages", "data/jobs", "jobs", "packages", "store", "instance"} {
		if err := os.MkdirAll(filepath.Join(vcap, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.Symlink("data/sys", filepath.Join(vcap, "sys")); err != nil {
		return err
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	rc := filepath.Join(vcap, "bosh", "etc", "monitrc")
	if err := os.WriteFile(rc, []byte(monit.ControlFile(hex.EncodeToString(pw))), 0o600); err != nil {
		return err
	}
	for file, content := range map[string]string{"id": inst.ID, "name": inst.Group, "az": inst.AZ, "deployment": d.Name} {
		if err := os.WriteFile(filepath.Join(vcap, "instance", file), []byte(content), 0o644); err != nil {
			return err
		}
	}
	_, err := d.Network().Create(ctx, vm.Config{
		Netns:         v.Netns,
		Veth:          fmt.Sprintf("vm%d", inst.Ordinal),
		Address:       inst.IP + subnetBits,
		Dir:           v.Dir,
		Hostname:      inst.ID,
		Binds:         [][2]string{{rc, "/etc/monit/monitrc"}},
		Supervisor:    []string{"monit", "-I", "-c", monit.ControlPath},
		SupervisorLog: "/var/vcap/monit/monit.out",
	})
	if err != nil {
		return err
	}
	return monit.Client{VM: v}.WaitUp(ctx, 30*time.Second)
}

// writeInPlace rewrites a file without replacing its inode: VMs see their
// hosts file through a bind mount of that inode.
func writeInPlace(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func manifestName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading manifest: %w", err)
	}
	var head struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &head); err != nil {
		return "", fmt.Errorf("parsing %s: %w", path, err)
	}
	if head.Name == "" || strings.ContainsAny(head.Name, "/ ") {
		return "", fmt.Errorf("manifest %s: name %q is empty or not a plain word", path, head.Name)
	}
	return head.Name, nil
}

// lockDir keeps two up/down commands off one deployment.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another deployer command is working on %s", dir)
	}
	return func() { f.Close() }, nil
}
