package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/locket-release/deployer/emulate"
	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/monit"
	"github.com/locket-release/deployer/render"
	"github.com/locket-release/deployer/vm"
)

// instancePlan is what an instance should run: its rendered jobs and
// compiled packages, and their hash (a changed hash means an update).
type instancePlan struct {
	jobs     []renderedJob
	packages map[string]string // name -> <name>/<fingerprint>
	compiled map[string]string // name -> cache path
	hash     string
}

type renderedJob struct {
	name      string
	dir       string // staging dir: monit + the job's files
	hash      string
	processes []string
}

var checkProcess = regexp.MustCompile(`(?m)^\s*check\s+process\s+(\S+)`)

// renderInstance renders every job of an instance into
// <deployment>/rendered/<group>-<index>/<job>.
func (dp *Deployer) renderInstance(ctx context.Context, d *Deployment, p *planner, inst *Instance, compiled map[string]string) (*instancePlan, error) {
	g := p.group(inst.Group)
	base := filepath.Join(d.Dir, "rendered", fmt.Sprintf("%s-%d", inst.Group, inst.Index))
	if err := os.RemoveAll(base); err != nil {
		return nil, err
	}
	spec := render.Spec{ID: inst.ID, Index: inst.Index, AZ: inst.AZ, Address: p.address(inst), IP: inst.IP,
		Deployment: d.Name, Name: inst.Group, Bootstrap: inst.Bootstrap,
		Networks: map[string]any{inst.Network: map[string]any{"ip": inst.IP, "netmask": "255.255.255.0",
			"default": []string{"dns", "gateway"}}},
		Release: map[string]any{"name": p.rel.Name, "version": p.rel.Version}}
	ip := &instancePlan{packages: map[string]string{}, compiled: map[string]string{}}
	h := sha256.New()
	for _, mj := range g.Jobs {
		dir := filepath.Join(base, mj.Name)
		if mj.Release == p.rel.Name {
			job := p.rel.Jobs[mj.Name]
			links, err := p.resolveLinks(job, mj)
			if err != nil {
				return nil, fmt.Errorf("instance group %s: %w", g.Name, err)
			}
			r := render.Renderer{Run: dp.Run, Script: dp.Renderer}
			if err := r.Render(ctx, job, render.Context{Properties: render.Properties(job, mj.Properties), Spec: spec, Links: links}, dir); err != nil {
				return nil, err
			}
			for _, pkg := range job.Packages {
				ip.packages[pkg] = pkg + "/" + p.rel.Packages[pkg].Fingerprint
				ip.compiled[pkg] = compiled[pkg]
			}
		} else {
			emulated, _ := emulate.Lookup(mj.Release, mj.Name)
			if err := emulated(mj.Properties, dir); err != nil {
				return nil, fmt.Errorf("instance %s: %w", inst.Short(), err)
			}
		}
		jh, err := hashDir(dir)
		if err != nil {
			return nil, err
		}
		monitText, _ := os.ReadFile(filepath.Join(dir, "monit"))
		rj := renderedJob{name: mj.Name, dir: dir, hash: jh}
		for _, m := range checkProcess.FindAllStringSubmatch(string(monitText), -1) {
			rj.processes = append(rj.processes, m[1])
		}
		ip.jobs = append(ip.jobs, rj)
		fmt.Fprintf(h, "job %s %s\n", rj.name, rj.hash)
	}
	for _, name := range slices.Sorted(maps.Keys(ip.packages)) {
		fmt.Fprintf(h, "package %s\n", ip.packages[name])
	}
	ip.hash = hex.EncodeToString(h.Sum(nil))[:16]
	return ip, nil
}

// updateGroup updates the group's changed instances: canaries one at a
// time, then max_in_flight at a time; the first failure stops the deploy.
func (dp *Deployer) updateGroup(ctx context.Context, d *Deployment, p *planner, g manifest.InstanceGroup, plans map[*Instance]*instancePlan) error {
	policy, err := p.m.Policy(g)
	if err != nil {
		return err
	}
	var changed []*Instance
	for _, inst := range p.instances {
		if inst.Group == g.Name && inst.Applied != plans[inst].hash {
			changed = append(changed, inst)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	dp.say("Updating instance group %s: %d of %d instances (canaries %d, max_in_flight %d)",
		g.Name, len(changed), g.Instances, policy.Canaries, policy.MaxInFlight)
	canaries := min(policy.Canaries, len(changed))
	for _, inst := range changed[:canaries] {
		if err := dp.updateInstance(ctx, d, p, inst, plans[inst], policy.CanaryWatchTime, " (canary)"); err != nil {
			return err
		}
	}
	rest := changed[canaries:]
	for len(rest) > 0 {
		n := min(policy.MaxInFlight, len(rest))
		batch := rest[:n]
		rest = rest[n:]
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for k, inst := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = dp.updateInstance(ctx, d, p, inst, plans[inst], policy.UpdateWatchTime, "")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// updateInstance does what the agent does for one instance: drain and stop
// the jobs (if it ran any), install packages and jobs, run pre-start,
// start the processes under monit, wait until they run, run post-start.
func (dp *Deployer) updateInstance(ctx context.Context, d *Deployment, p *planner, inst *Instance, ip *instancePlan, watch manifest.WatchTime, label string) error {
	start := time.Now()
	v := d.VM(inst)
	mc := monit.Client{VM: v}
	from := ""
	if inst.Version != "" && inst.Version != p.rel.Version {
		from = fmt.Sprintf(" %s -> %s", inst.Version, p.rel.Version)
	}
	dp.say("Updating instance %s (%d)%s%s", inst.Name(), inst.Index, label, from)
	if inst.Applied != "" {
		if err := dp.drain(ctx, v, inst); err != nil {
			return err
		}
		if err := mc.StopAll(ctx, 2*time.Minute); err != nil {
			return fmt.Errorf("instance %s: stopping: %w", inst.Short(), err)
		}
	}
	if err := dp.install(ctx, v, ip); err != nil {
		return fmt.Errorf("instance %s: %w", inst.Short(), err)
	}
	if err := dp.runHook(ctx, d, inst, ip, "pre-start"); err != nil {
		return err
	}
	var procs []string
	for _, j := range ip.jobs {
		procs = append(procs, j.processes...)
	}
	if err := mc.Reload(ctx, procs, 30*time.Second); err != nil {
		return fmt.Errorf("instance %s: %w", inst.Short(), err)
	}
	// As the director: start, wait the watch time's minimum, then expect
	// every process to run before its maximum.
	if err := mc.Do(ctx, "start", "all"); err != nil {
		return fmt.Errorf("instance %s: %w", inst.Short(), err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(watch.Min):
	}
	if err := mc.WaitAll(ctx, watch.Max-watch.Min, "running", monit.Process.Running); err != nil {
		return fmt.Errorf("instance %s: %w (see its logs: deploy logs %s)", inst.Short(), err, inst.Short())
	}
	if err := dp.runHook(ctx, d, inst, ip, "post-start"); err != nil {
		return err
	}
	dp.mu.Lock()
	inst.Applied = ip.hash
	inst.Version = p.rel.Version
	inst.Jobs = nil
	for _, j := range ip.jobs {
		inst.Jobs = append(inst.Jobs, j.name)
	}
	err := d.save()
	dp.mu.Unlock()
	dp.say("Updated instance %s (%d)%s in %.1fs", inst.Name(), inst.Index, label, time.Since(start).Seconds())
	if err == nil && dp.OnUpdated != nil {
		dp.OnUpdated(inst, label != "")
	}
	return err
}

// install puts packages and rendered jobs on the VM's disk as the agent
// does: /var/vcap/data/{packages,jobs}/<name>/<version> with
// /var/vcap/{packages,jobs}/<name> links, and the monit files.
func (dp *Deployer) install(ctx context.Context, v vm.VM, ip *instancePlan) error {
	vcap := v.Vcap()
	for name, versioned := range ip.packages {
		dst := filepath.Join(vcap, "data", "packages", versioned)
		if !dp.Run.FS.FileExists(dst) {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			// Hard links: the compiled package is shared, read-only, like
			// a cached compiled package unpacked on each VM.
			if _, err := dp.Run.Command(ctx, "cp", "-al", ip.compiled[name], dst); err != nil {
				return fmt.Errorf("installing package %s: %w", name, err)
			}
		}
		if err := relink(filepath.Join("..", "data", "packages", versioned), filepath.Join(vcap, "packages", name)); err != nil {
			return err
		}
	}
	if err := prune(filepath.Join(vcap, "packages"), ip.packages); err != nil {
		return err
	}
	jobs := map[string]string{}
	monitDir := filepath.Join(vcap, "monit", "job")
	old, _ := filepath.Glob(filepath.Join(monitDir, "*.monitrc"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for k, j := range ip.jobs {
		versioned := filepath.Join(j.name, j.hash)
		jobs[j.name] = versioned
		dst := filepath.Join(vcap, "data", "jobs", versioned)
		if !dp.Run.FS.FileExists(dst) {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if _, err := dp.Run.Command(ctx, "cp", "-a", j.dir, dst); err != nil {
				return fmt.Errorf("installing job %s: %w", j.name, err)
			}
			_ = os.Remove(filepath.Join(dst, "monit"))
		}
		if err := relink(filepath.Join("..", "data", "jobs", versioned), filepath.Join(vcap, "jobs", j.name)); err != nil {
			return err
		}
		for _, sub := range []string{"sys/log/", "sys/run/", "data/"} {
			if err := os.MkdirAll(filepath.Join(vcap, sub+j.name), 0o755); err != nil {
				return err
			}
		}
		text, err := os.ReadFile(filepath.Join(j.dir, "monit"))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if strings.TrimSpace(string(text)) != "" {
			if err := os.WriteFile(filepath.Join(monitDir, fmt.Sprintf("%04d_%s.monitrc", k+1, j.name)), text, 0o644); err != nil {
				return err
			}
		}
	}
	return prune(filepath.Join(vcap, "jobs"), jobs)
}

// relink points link at target, replacing what was there atomically.
func relink(target, link string) error {
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// prune removes the links of packages or jobs the instance no longer has.
func prune(dir string, keep map[string]string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := keep[e.Name()]; !ok {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// runHook runs a lifecycle script (pre-start, post-start, post-deploy) of
// each job that has one, inside the VM, with its output in the job's log
// directory as the agent keeps it.
func (dp *Deployer) runHook(ctx context.Context, d *Deployment, inst *Instance, ip *instancePlan, hook string) error {
	v := d.VM(inst)
	for _, j := range ip.jobs {
		if _, err := os.Stat(filepath.Join(j.dir, "bin", hook)); err != nil {
			continue
		}
		logBase := fmt.Sprintf("/var/vcap/sys/log/%s/%s", j.name, hook)
		script := fmt.Sprintf("exec /var/vcap/jobs/%s/bin/%s >>%s.stdout.log 2>>%s.stderr.log", j.name, hook, logBase, logBase)
		if _, err := v.Sh(ctx, script); err != nil {
			stderr, _ := os.ReadFile(filepath.Join(v.Vcap(), "sys", "log", j.name, hook+".stderr.log"))
			return fmt.Errorf("instance %s: %s of job %s failed: %w\n%s", inst.Short(), hook, j.name, err, host.LastLines(string(stderr), 20))
		}
	}
	return nil
}

// drain runs each job's drain script as the agent does before a stop and
// honours its answer: n > 0 waits n seconds; n < 0 asks again
// (job_check_status) after -n seconds until the answer is not negative.
func (dp *Deployer) drain(ctx context.Context, v vm.VM, inst *Instance) error {
	for _, job := range inst.Jobs {
		script := filepath.Join(v.Vcap(), "jobs", job, "bin", "drain")
		if _, err := os.Stat(script); err != nil {
			continue
		}
		args := "job_shutdown hash_changed"
		for attempt := 0; attempt < 600; attempt++ {
			out, err := v.Sh(ctx, fmt.Sprintf("/var/vcap/jobs/%s/bin/drain %s", job, args))
			if err != nil {
				return fmt.Errorf("instance %s: drain of %s: %w", inst.Short(), job, err)
			}
			n, err := strconv.Atoi(strings.TrimSpace(out))
			if err != nil {
				return fmt.Errorf("instance %s: drain of %s printed %q, not an integer", inst.Short(), job, strings.TrimSpace(out))
			}
			wait := n
			if n < 0 {
				wait = -n
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(wait) * time.Second):
			}
			if n >= 0 {
				break
			}
			args = "job_check_status hash_changed"
		}
	}
	return nil
}

// stopVM drains and stops an instance's jobs before its VM goes away;
// failures are reported, not fatal (the VM is deleted anyway).
func (dp *Deployer) stopVM(ctx context.Context, d *Deployment, inst *Instance) {
	v := d.VM(inst)
	if !v.Running() {
		return
	}
	if err := dp.drain(ctx, v, inst); err != nil {
		dp.say("warning: %v", err)
	}
	if err := (monit.Client{VM: v}).StopAll(ctx, time.Minute); err != nil {
		dp.say("warning: instance %s: stopping: %v", inst.Short(), err)
	}
}

func hashDir(dir string) (string, error) {
	var files []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s %o\n", rel, fi.Mode().Perm())
		r, err := os.Open(f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
