// Command deploy stands a BOSH deployment manifest up on this machine: one
// "VM" (network, mount, UTS and pid namespaces) per instance, monit in
// each, packages compiled by the release's packaging scripts, jobs rendered
// with links, databases and DNS aliases emulated. See docs/drills.md.
//
//	deploy up MANIFEST [-o OPS]... [-v NAME=VALUE]... [-l VARS]...
//	deploy down [-d NAME] [--force]
//	deploy status [-d NAME]
//	deploy exec [-d NAME] GROUP/INDEX [-- COMMAND...]
//	deploy logs [-d NAME] [GROUP/INDEX] [--job JOB] [-n LINES] [-f]
//	deploy sql [-d NAME] [QUERY]
//	deploy drill [-d NAME] [--narrate] N...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/locket-release/deployer/deployment"
	"github.com/locket-release/deployer/drill"
	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/vm"
)

const usage = `usage: deploy [--release-dir DIR] [--root DIR] COMMAND ...

  up MANIFEST [-o OPS]... [-v NAME=VALUE]... [-l VARS]... [--release DIR]   deploy or update
  down [-d NAME] [--force]                                    stop and delete everything
  status [-d NAME]                                            instances, jobs, monit summary
  exec [-d NAME] GROUP/INDEX [-- COMMAND...]                  run a command (or a shell) in a VM
  logs [-d NAME] [GROUP/INDEX] [--job JOB] [-n LINES] [-f]    job logs
  sql [-d NAME] [QUERY]                                       SQL on the locket database
  drill [-d NAME] [--narrate] N...                            run drills 1-6 against the deployment
`

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	code, err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	global := flag.NewFlagSet("deploy", flag.ContinueOnError)
	global.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	releaseDir := global.String("release-dir", envOr("RELEASE_DIR", "."), "the repository: its release, scripts/bosh, src/bosh-template/render.rb")
	root := global.String("root", os.Getenv("DEPLOYER_ROOT"), "state directory (default RELEASE_DIR/.cache/deployer)")
	if err := global.Parse(args); err != nil {
		return 2, nil
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		return 2, nil
	}
	rd, err := filepath.Abs(*releaseDir)
	if err != nil {
		return 1, err
	}
	if *root == "" {
		*root = filepath.Join(rd, ".cache", "deployer")
	}
	dp := &deployment.Deployer{Run: host.New(), Root: *root, Out: os.Stdout,
		Bosh: filepath.Join(rd, "scripts", "bosh"), Renderer: filepath.Join(rd, "src", "bosh-template", "render.rb")}

	cmd, cargs := rest[0], rest[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	name := fs.String("d", "", "deployment name (default: the only one)")
	switch cmd {
	case "up":
		var ops, vars, varFiles multi
		fs.Var(&ops, "o", "ops file (repeatable)")
		fs.Var(&vars, "v", "variable NAME=VALUE (repeatable)")
		fs.Var(&varFiles, "l", "variables file (repeatable)")
		rel := fs.String("release", rd, "release directory to deploy (default: the repository)")
		pos, err := parse(fs, cargs)
		if err != nil || len(pos) != 1 {
			return 2, errors.New("usage: deploy up MANIFEST [-o OPS]... [-v NAME=VALUE]... [-l VARS]...")
		}
		return 0, dp.Up(ctx, deployment.UpOptions{ReleaseDir: abs(*rel),
			Manifest: manifest.Invocation{Path: abs(pos[0]), OpsFiles: absAll(ops), Vars: vars, VarFiles: absAll(varFiles)}})
	case "down":
		force := fs.Bool("force", false, "skip draining and stopping the jobs")
		if _, err := parse(fs, cargs); err != nil {
			return 2, err
		}
		n := *name
		if n == "" {
			d, err := dp.Open("")
			if err != nil {
				return 1, err
			}
			n = d.Name
		}
		return 0, dp.Down(ctx, n, *force)
	case "status":
		if _, err := parse(fs, cargs); err != nil {
			return 2, err
		}
		d, err := dp.Open(*name)
		if err != nil {
			return 1, err
		}
		return 0, dp.Status(ctx, d, os.Stdout)
	case "exec":
		pos, err := parse(fs, cargs)
		if err != nil || len(pos) < 1 {
			return 2, errors.New("usage: deploy exec [-d NAME] GROUP/INDEX [-- COMMAND...]")
		}
		d, inst, err := openInstance(dp, *name, pos[0])
		if err != nil {
			return 1, err
		}
		argv := pos[1:]
		if len(argv) == 0 {
			argv = []string{"/bin/bash", "-l"}
		}
		code, err := d.Exec(ctx, inst, vm.Cmd{Argv: argv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Attached: true})
		if errors.Is(err, host.ErrExit) {
			return code, nil
		}
		return code, err
	case "logs":
		job := fs.String("job", "", "only this job's logs")
		lines := fs.Int("n", 20, "lines per file")
		follow := fs.Bool("f", false, "follow")
		pos, err := parse(fs, cargs)
		if err != nil {
			return 2, err
		}
		d, err := dp.Open(*name)
		if err != nil {
			return 1, err
		}
		insts := d.Instances
		if len(pos) > 0 {
			inst, err := d.Find(pos[0])
			if err != nil {
				return 1, err
			}
			insts = []*deployment.Instance{inst}
		}
		var files []logFile
		for _, inst := range insts {
			paths, err := d.LogFiles(inst, *job)
			if err != nil && !os.IsNotExist(err) {
				return 1, err
			}
			for _, p := range paths {
				rel, _ := filepath.Rel(d.LogDir(inst), p)
				files = append(files, logFile{path: p, label: inst.Short() + " " + rel})
			}
		}
		if len(files) == 0 {
			return 1, errors.New("no log files")
		}
		return 0, printLogs(ctx, files, *lines, *follow)
	case "sql":
		pos, err := parse(fs, cargs)
		if err != nil {
			return 2, err
		}
		d, err := dp.Open(*name)
		if err != nil {
			return 1, err
		}
		db, err := d.Database()
		if err != nil {
			return 1, err
		}
		code, err := d.Exec(ctx, db.Instance, vm.Cmd{Argv: db.SQLCommand(strings.Join(pos, " ")),
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Attached: true})
		if errors.Is(err, host.ErrExit) {
			return code, nil
		}
		return code, err
	case "drill":
		narrate := fs.Bool("narrate", false, "explain each step and show the log lines and table")
		pos, err := parse(fs, cargs)
		if err != nil || len(pos) == 0 {
			return 2, errors.New("usage: deploy drill [-d NAME] [--narrate] N...")
		}
		d, err := dp.Open(*name)
		if err != nil {
			return 1, err
		}
		return drill.RunCLI(ctx, dp, d, rd, pos, *narrate, os.Stdout)
	default:
		global.Usage()
		return 2, fmt.Errorf("unknown command %q", cmd)
	}
}

type logFile struct{ path, label string }

// printLogs prints the last n lines of each file under a header naming
// the instance and the file; with follow, it then prints new lines as they
// come, each prefixed with its instance and file, until interrupted.
func printLogs(ctx context.Context, files []logFile, n int, follow bool) error {
	offsets := make([]int64, len(files))
	for k, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		offsets[k] = int64(len(b))
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		if follow {
			for _, l := range lines {
				if l != "" {
					fmt.Printf("%s: %s\n", f.label, l)
				}
			}
			continue
		}
		fmt.Printf("==> %s <==\n%s\n\n", f.label, strings.Join(lines, "\n"))
	}
	for follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		for k, f := range files {
			fh, err := os.Open(f.path)
			if err != nil {
				continue
			}
			fi, err := fh.Stat()
			if err == nil && fi.Size() < offsets[k] {
				offsets[k] = 0 // truncated
			}
			if err == nil && fi.Size() > offsets[k] {
				buf := make([]byte, fi.Size()-offsets[k])
				if _, err := fh.ReadAt(buf, offsets[k]); err == nil {
					// Only whole lines; the rest comes next time.
					if i := strings.LastIndexByte(string(buf), '\n'); i >= 0 {
						for _, l := range strings.Split(string(buf[:i]), "\n") {
							fmt.Printf("%s: %s\n", f.label, l)
						}
						offsets[k] += int64(i + 1)
					}
				}
			}
			fh.Close()
		}
	}
	return nil
}

// parse parses flags that may come before or after positional arguments;
// everything after "--" is positional.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
		// "exec GROUP/INDEX -- cmd": stop flag parsing at the "--".
		if len(args) > 0 && args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
	}
}

func openInstance(dp *deployment.Deployer, name, which string) (*deployment.Deployment, *deployment.Instance, error) {
	d, err := dp.Open(name)
	if err != nil {
		return nil, nil, err
	}
	inst, err := d.Find(which)
	return d, inst, err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func absAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = abs(p)
	}
	return out
}
