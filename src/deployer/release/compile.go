package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	boshsys "github.com/cloudfoundry/bosh-utils/system"

	"github.com/locket-release/deployer/host"
)

// Compiler compiles packages into a cache shared by all deployments.
type Compiler struct {
	Run   host.Runner
	Cache string // <cache>/<package>/<fingerprint>/ holds a compiled package
	// Env is added to the compile environment (e.g. a GOCACHE that
	// survives between compilations; packaging scripts may override it).
	Env map[string]string
	// Progress is told about each compilation.
	Progress func(format string, args ...any)
}

// Path is where a compiled package lives in the cache.
func (c Compiler) Path(p *Package) string { return filepath.Join(c.Cache, p.Name, p.Fingerprint) }

// Compile compiles the named packages and their dependencies (each once,
// dependencies first) and returns where each compiled package is.
func (c Compiler) Compile(ctx context.Context, r *Release, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range r.Order(names) {
		dst := c.Path(p)
		if c.Run.FS.FileExists(dst) {
			out[p.Name] = dst
			continue
		}
		if c.Progress != nil {
			c.Progress("compiling package %s/%s", p.Name, p.Fingerprint[:10])
		}
		if err := c.compile(ctx, r, p); err != nil {
			return nil, err
		}
		out[p.Name] = dst
	}
	return out, nil
}

// compile runs a package's packaging script as a compile VM would: in a
// mount namespace where /var/vcap holds the compiled dependencies, the
// package's files in BOSH_COMPILE_TARGET, and a network namespace of its
// own, so a packaging script that reaches for the network fails here as it
// would on an offline compile VM.
func (c Compiler) compile(ctx context.Context, r *Release, p *Package) error {
	work, err := os.MkdirTemp(c.Cache, ".compile-"+p.Name+"-")
	if err != nil {
		return fmt.Errorf("compile dir: %w", err)
	}
	defer os.RemoveAll(work)
	vcap := filepath.Join(work, "vcap")
	target := filepath.Join(vcap, "data", "compile", p.Name)
	install := filepath.Join(vcap, "packages", p.Name)
	for _, d := range []string{target, install, filepath.Join(work, "home"), filepath.Join(work, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range r.Order(p.Dependencies) {
		if err := os.Symlink(c.Path(d), filepath.Join(vcap, "packages", d.Name)); err != nil {
			return fmt.Errorf("linking dependency %s: %w", d.Name, err)
		}
	}
	for rel, src := range p.Files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(target, rel)), 0o755); err != nil {
			return err
		}
		if err := c.Run.FS.CopyFile(src, filepath.Join(target, rel)); err != nil {
			return fmt.Errorf("package %s: copying %s: %w", p.Name, rel, err)
		}
		if fi, err := os.Stat(src); err == nil {
			_ = os.Chmod(filepath.Join(target, rel), fi.Mode().Perm())
		}
	}
	if err := c.Run.FS.CopyFile(filepath.Join(p.Dir, "packaging"), filepath.Join(target, "packaging")); err != nil {
		return fmt.Errorf("package %s: packaging: %w", p.Name, err)
	}
	logPath := filepath.Join(c.Cache, p.Name+".compile.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	script := fmt.Sprintf("set -e\nmount --bind %s /var/vcap\nip link set lo up\ncd /var/vcap/data/compile/%s\nexec bash -x packaging\n",
		host.Quote(vcap), p.Name)
	env := []string{"env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(work, "home"), "TMPDIR=" + filepath.Join(work, "tmp"), "LANG=C.UTF-8",
		"BOSH_COMPILE_TARGET=/var/vcap/data/compile/" + p.Name,
		"BOSH_INSTALL_TARGET=/var/vcap/packages/" + p.Name,
		"BOSH_PACKAGE_NAME=" + p.Name, "BOSH_PACKAGE_VERSION=" + p.Fingerprint}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	args := append(env, "unshare", "--mount", "--net", "--propagation", "private", "/bin/sh", "-c", script)
	if _, err := c.Run.Run(ctx, boshsys.Command{Name: args[0], Args: args[1:], Stdout: logFile, Stderr: logFile}); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("compiling package %s failed (log %s): %w\n%s", p.Name, logPath, err, host.LastLines(string(b), 30))
	}
	if err := os.MkdirAll(filepath.Dir(c.Path(p)), 0o755); err != nil {
		return err
	}
	if err := os.Rename(install, c.Path(p)); err != nil {
		return fmt.Errorf("caching compiled %s: %w", p.Name, err)
	}
	return nil
}
