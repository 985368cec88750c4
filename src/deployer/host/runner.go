// Package host runs commands on the machine the deployer runs on, through
// bosh-utils' CmdRunner, with the cancellation an interrupted deploy needs.
package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	boshlog "github.com/cloudfoundry/bosh-utils/logger"
	boshsys "github.com/cloudfoundry/bosh-utils/system"
)

// Runner runs commands and stops them when the context ends.
type Runner struct {
	Cmd boshsys.CmdRunner
	FS  boshsys.FileSystem
}

// New returns a Runner and file system that log nothing: bosh-utils logs
// whole command lines and outputs at debug level, and some carry secrets.
func New() Runner {
	logger := boshlog.NewLogger(boshlog.LevelNone)
	return Runner{Cmd: boshsys.NewExecCmdRunner(logger), FS: boshsys.NewOsFileSystem(logger)}
}

// Result is what a finished command left behind.
type Result struct {
	Stdout, Stderr string
	ExitStatus     int
}

// ErrExit is wrapped by Run's error when the command ran and exited non-zero.
var ErrExit = errors.New("command exited non-zero")

// Run runs c to completion, or until ctx ends (then the command's process
// group gets SIGTERM and, 3 s later, SIGKILL). A non-zero exit is an error
// wrapping ErrExit whose text carries the command's stderr.
func (r Runner) Run(ctx context.Context, c boshsys.Command) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitStatus: -1}, err
	}
	c.Quiet = true
	p, err := r.Cmd.RunComplexCommandAsync(c)
	if err != nil {
		return Result{ExitStatus: -1}, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	done := p.Wait()
	var res boshsys.Result
	select {
	case res = <-done:
	case <-ctx.Done():
		_ = p.TerminateNicely(3 * time.Second)
		<-done
		return Result{ExitStatus: -1}, fmt.Errorf("%s: %w", c.Name, ctx.Err())
	}
	out := Result{Stdout: res.Stdout, Stderr: res.Stderr, ExitStatus: res.ExitStatus}
	if res.Error != nil {
		if res.ExitStatus > 0 {
			return out, fmt.Errorf("%s exited %d: %s: %w", c.Name, res.ExitStatus, tail(res.Stderr, 2000), ErrExit)
		}
		return out, fmt.Errorf("running %s: %w", c.Name, res.Error)
	}
	return out, nil
}

// Command runs name with args and returns its stdout.
func (r Runner) Command(ctx context.Context, name string, args ...string) (string, error) {
	res, err := r.Run(ctx, boshsys.Command{Name: name, Args: args})
	return res.Stdout, err
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// LastLines returns the last n lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
