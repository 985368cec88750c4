package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	boshsys "github.com/cloudfoundry/bosh-utils/system"

	"github.com/locket-release/deployer/deployment"
	"github.com/locket-release/deployer/monit"
	"github.com/locket-release/deployer/release"
)

// upstreamPackage carries upstream's server in the "upstream" release
// version.
const upstreamPackage = "locket-upstream-server"

// buildUpstream builds upstream Locket v1.5.0's server from the module
// src/interop requires it in (once; kept under the deployer's root).
func (e *Env) buildUpstream() string {
	e.T.Helper()
	bin := filepath.Join(e.Dp.Root, "upstream", "locket-v1.5.0")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	e.say("Building upstream Locket v1.5.0's server (code.cloudfoundry.org/locket/cmd/locket).")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		e.T.Fatalf("%v", err)
	}
	_, err := e.Dp.Run.Run(e.ctx, boshsys.Command{Name: "go", Args: []string{"build", "-o", bin + ".tmp", "code.cloudfoundry.org/locket/cmd/locket"},
		WorkingDir: filepath.Join(e.Repo, "src", "interop"), Env: map[string]string{"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}})
	if err != nil {
		e.T.Fatalf("building upstream locket: %v", err)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		e.T.Fatalf("%v", err)
	}
	return bin
}

var serverPath = regexp.MustCompile(`/var/vcap/packages/locket/bin/locket\b`)

// upstreamRelease makes the release version of a foundation whose locket
// job runs upstream's server: the same release with one more package,
// holding upstream Locket v1.5.0's server, which the locket job runs
// instead of ours. Every other job and package is the same, so only the
// instances running the locket job change (the clients, like a
// foundation's BBS and reps, are untouched).
func (e *Env) upstreamRelease(base *release.Release, upstreamBin string) string {
	e.T.Helper()
	dir := filepath.Join(e.Dp.Root, "releases", "locket-upstream-server-"+strings.TrimPrefix(base.Version, "0+dev."))
	if _, err := os.Stat(filepath.Join(dir, "jobs", "locket", "spec")); err == nil {
		return dir
	}
	_ = os.RemoveAll(dir)
	fail := func(err error) {
		if err != nil {
			e.T.Fatalf("making the upstream release version: %v", err)
		}
	}
	for _, d := range []string{"config", "jobs", "packages", "src/" + upstreamPackage, "packages/" + upstreamPackage} {
		fail(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	fail(os.WriteFile(filepath.Join(dir, "config", "final.yml"), []byte("---\nname: "+base.Name+"\n"), 0o644))
	// Everything of the base release, linked: same files, same fingerprints.
	for _, sub := range []string{"src", "blobs"} {
		entries, _ := os.ReadDir(filepath.Join(base.Dir, sub))
		for _, en := range entries {
			fail(os.MkdirAll(filepath.Join(dir, sub), 0o755))
			fail(os.Symlink(filepath.Join(base.Dir, sub, en.Name()), filepath.Join(dir, sub, en.Name())))
		}
	}
	for name, p := range base.Packages {
		fail(os.Symlink(p.Dir, filepath.Join(dir, "packages", name)))
	}
	for name, j := range base.Jobs {
		if name != "locket" {
			fail(os.Symlink(j.Dir, filepath.Join(dir, "jobs", name)))
		}
	}
	// The new package, and the locket job running its server.
	fail(e.Dp.Run.FS.CopyFile(upstreamBin, filepath.Join(dir, "src", upstreamPackage, "locket")))
	fail(os.WriteFile(filepath.Join(dir, "packages", upstreamPackage, "spec"), []byte(fmt.Sprintf(
		"---\nname: %s\n# Upstream Locket v1.5.0's server (code.cloudfoundry.org/locket/cmd/locket).\nfiles:\n- %s/locket\n", upstreamPackage, upstreamPackage)), 0o644))
	fail(os.WriteFile(filepath.Join(dir, "packages", upstreamPackage, "packaging"), []byte(fmt.Sprintf(
		"set -e\nmkdir -p \"${BOSH_INSTALL_TARGET}/bin\"\ninstall -m 0755 %s/locket \"${BOSH_INSTALL_TARGET}/bin/locket\"\n", upstreamPackage)), 0o644))
	job := filepath.Join(dir, "jobs", "locket")
	fail(e.Dp.Run.FS.CopyDir(base.Jobs["locket"].Dir, job))
	spec, err := os.ReadFile(filepath.Join(job, "spec"))
	fail(err)
	patched := strings.Replace(string(spec), "packages:\n", "packages:\n- "+upstreamPackage+"\n", 1)
	if patched == string(spec) {
		e.T.Fatalf("the locket job spec has no packages: list to add %s to", upstreamPackage)
	}
	fail(os.WriteFile(filepath.Join(job, "spec"), []byte(patched), 0o644))
	templates, _ := filepath.Glob(filepath.Join(job, "templates", "*"))
	replaced := 0
	for _, t := range templates {
		b, err := os.ReadFile(t)
		fail(err)
		if serverPath.Match(b) {
			replaced++
			fail(os.WriteFile(t, serverPath.ReplaceAll(b, []byte("/var/vcap/packages/"+upstreamPackage+"/bin/locket")), 0o644))
		}
	}
	if replaced == 0 {
		e.T.Fatalf("no template of the locket job runs /var/vcap/packages/locket/bin/locket")
	}
	return dir
}

func fileSHA(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	_, _ = io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// watch samples the locks table while a deploy runs: the lock must stay
// with a lock holder (gaps only while it changes hands), every presence must
// stay with the same owner.
type watch struct {
	mu       sync.Mutex
	errs     []string
	samples  int
	gaps     []time.Duration
	owners   []string // successive owners of the lock
	gapStart time.Time
	stop     chan struct{}
	done     chan struct{}
}

func (e *Env) watchLocks(h holders, presences map[string]string) *watch {
	w := &watch{stop: make(chan struct{}), done: make(chan struct{}), owners: []string{e.Lock(h.key)["owner"]}}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			rows, err := e.D.Query(e.ctx, "SELECT path, owner, type FROM locks")
			now := time.Now()
			w.mu.Lock()
			if err != nil {
				w.errs = append(w.errs, fmt.Sprintf("%s: reading the table: %v", now.Format("15:04:05.000"), err))
				w.mu.Unlock()
				continue
			}
			w.samples++
			byPath := map[string]map[string]string{}
			for _, r := range rows {
				byPath[r["path"]] = r
			}
			for path, owner := range presences {
				if r := byPath[path]; r == nil || r["owner"] != owner {
					w.errs = append(w.errs, fmt.Sprintf("%s: presence %s is %v, want owner %s", now.Format("15:04:05.000"), path, r, owner))
				}
			}
			lock := byPath[h.key]
			switch {
			case lock == nil && w.gapStart.IsZero():
				w.gapStart = now
			case lock != nil:
				if !w.gapStart.IsZero() {
					w.gaps = append(w.gaps, now.Sub(w.gapStart))
					w.gapStart = time.Time{}
				}
				if byID(h.insts, lock["owner"]) == nil {
					w.errs = append(w.errs, fmt.Sprintf("%s: lock %s owned by %s, no lock holder", now.Format("15:04:05.000"), h.key, lock["owner"]))
				}
				if last := w.owners[len(w.owners)-1]; lock["owner"] != last {
					w.owners = append(w.owners, lock["owner"])
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *watch) finish() {
	close(w.stop)
	<-w.done
	if !w.gapStart.IsZero() {
		w.gaps = append(w.gaps, time.Since(w.gapStart))
	}
}

// Drill6Upgrade: an upgrade rehearsal. The control group is deployed one
// instance at a time, canary first, to a release version whose server is
// upstream Locket v1.5.0, and then back to ours (the direction of an
// adoption), while the table is watched: the lock stays with a lock holder
// (it changes hands when its holder's VM is updated, as in drill 2) and no
// presence is lost or even re-registered.
func Drill6Upgrade(e *Env) {
	h := e.holders()
	cells := e.WithJob("presence-agent")
	presences := map[string]string{}
	for _, c := range cells {
		r := e.Lock(c.ID)
		if r == nil {
			e.T.Fatalf("cell %s has no presence", c.Short())
		}
		presences[c.ID] = r["owner"]
	}
	base, err := release.Load(e.Dp.Run.FS, e.D.Release.Dir)
	if err != nil {
		e.T.Fatalf("%v", err)
	}
	if base.Jobs["locket"] == nil {
		e.T.Fatalf("release %s has no locket job", base.Dir)
	}
	upstreamBin := e.buildUpstream()
	upstreamSHA := fileSHA(upstreamBin)
	upstreamDir := e.upstreamRelease(base, upstreamBin)
	manifest := e.D.Manifest
	name := e.D.Name

	var clientLogs, serverLogs []*Log
	for _, c := range h.insts {
		clientLogs = append(clientLogs, e.Log(c, "lock-holder"))
	}
	for _, c := range cells {
		clientLogs = append(clientLogs, e.Log(c, "presence-agent"))
	}
	serverLogs = e.serverLogs()

	// flavours says which server each control VM runs: the sha256 of the
	// running locket process's executable.
	flavours := func() string {
		var parts []string
		for _, s := range e.WithJob("locket") {
			f := "not running"
			if p, err := e.Monit(s).Wait(e.ctx, "locket", 5*time.Second, "running", monit.Process.Running); err == nil {
				out, err := e.D.VM(s).Sh(e.ctx, fmt.Sprintf("sha256sum /proc/%d/exe", p.Pid))
				switch {
				case err != nil:
				case strings.HasPrefix(out, upstreamSHA):
					f = "upstream"
				default:
					f = "ours"
				}
			}
			parts = append(parts, s.Short()+"="+f)
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	}
	roll := func(to, dir string) (mixed bool) {
		var order []string
		e.Dp.OnUpdated = func(inst *deployment.Instance, canary bool) {
			if byID(e.WithJob("locket"), inst.ID) == nil {
				e.T.Errorf("roll to %s updated %s, which runs no locket server", to, inst.Short())
				return
			}
			label := inst.Short()
			if canary {
				label += " (canary)"
			}
			state := flavours()
			order = append(order, label)
			if strings.Contains(state, "upstream") && strings.Contains(state, "ours") {
				mixed = true
			}
			e.say("  after %s: %s", label, state)
		}
		defer func() { e.Dp.OnUpdated = nil }()
		w := e.watchLocks(h, presences)
		start := time.Now()
		err := e.Dp.Up(e.ctx, deployment.UpOptions{ReleaseDir: dir, Manifest: manifest})
		w.finish()
		if err != nil {
			e.T.Fatalf("deploying %s: %v", to, err)
		}
		if d, err := e.Dp.Open(name); err == nil {
			e.D = d
		}
		for _, msg := range w.errs {
			e.T.Errorf("during the roll to %s: %s", to, msg)
		}
		if len(order) != len(h.insts) || !strings.HasSuffix(order[0], "(canary)") {
			e.T.Errorf("roll to %s: control instances updated as %v, want all %d, canary first", to, order, len(h.insts))
		}
		var maxGap time.Duration
		for _, g := range w.gaps {
			maxGap = max(maxGap, g)
		}
		if limit := h.retry + 2*time.Second; maxGap > limit {
			e.T.Errorf("roll to %s: lock %s had no owner for %s, want at most a retry interval (%s) + 2 s", to, h.key, seconds(maxGap), h.retry)
		}
		e.report("roll to %s: %s, order %s, %d table samples, lock owners %s, longest time without an owner %s",
			to, seconds(time.Since(start)), strings.Join(order, ", "), w.samples, strings.Join(w.owners, " -> "), seconds(maxGap))
		return mixed
	}

	oursVersion := e.D.Release.Version
	e.say("Rolling the control group to the release version with upstream Locket v1.5.0's server (%s), one VM at a time, canary first.", upstreamDir)
	if !roll("upstream v1.5.0", upstreamDir) {
		e.T.Errorf("never saw one control VM on upstream and the other on ours")
	}
	if state := flavours(); strings.Contains(state, "ours") || strings.Contains(state, "not running") {
		e.T.Errorf("after the roll to upstream: %s", state)
	}
	hold := time.Duration(h.ttl)*time.Second + 2*time.Second
	e.say("Only upstream servers now; holding for %s (longer than the TTL) to show they keep everything renewed.", seconds(hold))
	w := e.watchLocks(h, presences)
	e.sleep(hold)
	w.finish()
	for _, msg := range w.errs {
		e.T.Errorf("with upstream servers only: %s", msg)
	}
	if len(w.gaps) > 0 {
		e.T.Errorf("with upstream servers only, the lock had no owner %d times", len(w.gaps))
	}
	e.say("Rolling back to our server (%s).", base.Dir)
	if !roll("ours", base.Dir) {
		e.T.Errorf("never saw one control VM on ours and the other on upstream")
	}
	if e.D.Release.Version != oursVersion {
		e.T.Errorf("release version after the drill: %s, want %s", e.D.Release.Version, oursVersion)
	}
	// The deployment's logs go with the run (a CI machine keeps nothing):
	// a failure carries what every process said around it.
	everyLog := append(append([]*Log(nil), clientLogs...), serverLogs...)
	for _, bad := range Find(func(en Entry) bool { return en.Event() == "lost-lock" }, clientLogs...) {
		e.T.Errorf("a client lost its lock during the rolls: %s", bad.Raw)
		e.logAround(bad.Time, 3*time.Second, everyLog...)
	}
	for _, bad := range Find(func(en Entry) bool { return strings.HasSuffix(en.Message, "lock-expired") }, serverLogs...) {
		e.T.Errorf("a lock expired during the rolls: %s", bad.Raw)
		e.logAround(bad.Time, 3*time.Second, everyLog...)
	}
	e.showTable("select path, owner, type, modified_index from locket.locks")
}
