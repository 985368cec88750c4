package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"code.cloudfoundry.org/lager/v3"
)

// work is what lock-holder does while it holds the lock.
type work interface {
	// done yields the exit status when the work ends by itself.
	done() <-chan int
	// stop ends the work and waits until it has ended.
	stop()
}

// token is the holding's fencing token (0 from an upstream server): the
// command gets it as LOCKET_FENCING_TOKEN to pass to the resources it
// writes, which refuse tokens lower than the highest they have seen.
func startWork(logger lager.Logger, cfg Config, token int64) (work, error) {
	if len(cfg.Command) == 0 {
		return startTicker(logger.Session("work"), cfg.WorkInterval.D(), cfg.Key, cfg.Owner), nil
	}
	return startCommand(logger.Session("command"), cfg, token)
}

// ticker logs a work line every interval: a stand-in for a component's work
// that shows in the log who is active.
type ticker struct {
	quit, stopped chan struct{}
}

func startTicker(logger lager.Logger, interval time.Duration, key, owner string) *ticker {
	t := &ticker{quit: make(chan struct{}), stopped: make(chan struct{})}
	logger.Info("started", lager.Data{"key": key, "owner": owner})
	go func() {
		defer close(t.stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-t.quit:
				logger.Info("stopped")
				return
			case <-tick.C:
				logger.Info("working", lager.Data{"iteration": n})
			}
		}
	}()
	return t
}

func (t *ticker) done() <-chan int { return nil } // never ends by itself

func (t *ticker) stop() {
	close(t.quit)
	<-t.stopped
}

// command is the program run while the lock is held, in a process group of
// its own so that stopping it reaches its children too (a shell script's).
type command struct {
	logger      lager.Logger
	cmd         *exec.Cmd
	stopTimeout time.Duration
	exited      chan struct{}
	status      chan int
	code        int
}

func startCommand(logger lager.Logger, cfg Config, token int64) (*command, error) {
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "LOCKET_KEY="+cfg.Key, "LOCKET_OWNER="+cfg.Owner,
		"LOCKET_FENCING_TOKEN="+strconv.FormatInt(token, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logger.Error("failed-to-start", err, lager.Data{"path": cfg.Command[0]})
		return nil, fmt.Errorf("start command %s: %w", cfg.Command[0], err)
	}
	logger.Info("started", lager.Data{"path": cfg.Command[0], "pid": cmd.Process.Pid})
	c := &command{
		logger:      logger,
		cmd:         cmd,
		stopTimeout: cfg.CommandStopTimeout.D(),
		exited:      make(chan struct{}),
		status:      make(chan int, 1),
	}
	go func() {
		err := cmd.Wait()
		c.code = exitCode(err)
		logger.Info("exited", lager.Data{"exit-status": c.code})
		close(c.exited)
		c.status <- c.code
	}()
	return c, nil
}

func (c *command) done() <-chan int { return c.status }

// stop sends SIGTERM to the command's process group, and SIGKILL when it is
// still running after the stop timeout.
func (c *command) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	pgid := c.cmd.Process.Pid
	c.logger.Info("stopping", lager.Data{"pid": pgid})
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(c.stopTimeout)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		c.logger.Info("killing", lager.Data{"pid": pgid, "stop-timeout": c.stopTimeout.String()})
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.exited
	}
}

// exitCode maps a command's end to an exit status, 128+n for a signal as
// shells do.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}
