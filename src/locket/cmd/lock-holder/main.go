// Command lock-holder holds one named Locket lock, as BBS and auctioneer do,
// and does its work only while it holds it: it runs a command (started on
// acquisition, stopped when the lock is lost or on SIGTERM/SIGINT, like
// `consul lock`), or with no command it logs a work line periodically.
//
//	lock-holder -config=FILE [-- command args...]
//
// On SIGTERM or SIGINT it stops the work, releases the lock and exits 0. When
// it loses the lock it stops the work and exits 1 (monit restarts it). When
// the command ends by itself it releases the lock and exits with the
// command's status. See docs/client-programs.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/config"
	"github.com/locket-release/locket/internal/program"
)

// Config is lock-holder's config file.
type Config struct {
	program.Common

	Key           string          `json:"key"`
	Owner         string          `json:"owner"`
	TTLInSeconds  int64           `json:"ttl_in_seconds"`
	RetryInterval config.Duration `json:"retry_interval"`

	Command            []string        `json:"command"`
	CommandStopTimeout config.Duration `json:"command_stop_timeout"`
	WorkInterval       config.Duration `json:"work_interval"`
}

func (c *Config) validate() error {
	if c.TTLInSeconds == 0 {
		c.TTLInSeconds = client.DefaultTTLInSeconds
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = config.Duration(client.DefaultRetryInterval)
	}
	if c.WorkInterval == 0 {
		c.WorkInterval = config.Duration(5 * time.Second)
	}
	if c.CommandStopTimeout == 0 {
		c.CommandStopTimeout = config.Duration(10 * time.Second)
	}
	switch {
	case c.Key == "":
		return errors.New("key is not set")
	case c.Owner == "":
		return errors.New("owner is not set")
	case c.TTLInSeconds < 0:
		return fmt.Errorf("ttl_in_seconds %d is not positive", c.TTLInSeconds)
	case c.RetryInterval.D() >= time.Duration(c.TTLInSeconds)*time.Second:
		return fmt.Errorf("retry_interval %s is not shorter than ttl_in_seconds (%d s)", c.RetryInterval.D(), c.TTLInSeconds)
	}
	for i, a := range c.Command {
		if i == 0 && a == "" {
			return errors.New("command[0] is empty")
		}
	}
	return c.Common.Validate("lock-holder")
}

func main() {
	configFile := flag.String("config", "", "path to the JSON config file")
	flag.Parse()

	var cfg Config
	if err := program.Load(*configFile, &cfg); err != nil {
		program.Fail("lock-holder", err)
	}
	if args := flag.Args(); len(args) > 0 {
		cfg.Command = args
	}
	if err := cfg.validate(); err != nil {
		program.Fail("lock-holder", fmt.Errorf("config file %s: %w", *configFile, err))
	}
	logger := cfg.Logger(os.Stdout)
	code, err := run(logger, cfg)
	program.Exit(logger, code, err)
}

func run(logger lager.Logger, cfg Config) (int, error) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	c, err := client.Dial(cfg.Config)
	if err != nil {
		logger.Error("failed-to-create-locket-client", err)
		return 1, err
	}
	defer c.Close()

	acquired := make(chan struct{})
	runner, err := client.NewLockRunner(logger, c, client.RunnerConfig{
		Key:           cfg.Key,
		Owner:         cfg.Owner,
		TTLInSeconds:  cfg.TTLInSeconds,
		RetryInterval: cfg.RetryInterval.D(),
		OnAcquired:    func() { close(acquired) }, // a lock runner acquires once
	})
	if err != nil {
		return 1, err
	}
	runCtx, stopRunner := context.WithCancel(context.Background())
	defer stopRunner()
	lost := make(chan error, 1)
	go func() { lost <- runner.Run(runCtx) }()

	// Not holding the lock yet: a signal ends the runner, which releases
	// only what may be ours.
	select {
	case sig := <-signals:
		logger.Info("signalled", lager.Data{"signal": sig.String()})
		stopRunner()
		<-lost
		return 0, nil
	case err := <-lost:
		return 1, err
	case <-acquired:
	}

	w, err := startWork(logger, cfg, runner.FencingToken())
	if err != nil {
		// The lock is ours but the work cannot start: let another holder
		// have it.
		stopRunner()
		<-lost
		return 1, err
	}
	select {
	case sig := <-signals:
		logger.Info("signalled", lager.Data{"signal": sig.String()})
		w.stop() // the work ends before the lock goes to someone else
		stopRunner()
		<-lost
		return 0, nil
	case err := <-lost:
		w.stop()
		return 1, err
	case code := <-w.done():
		stopRunner()
		<-lost
		return code, nil
	}
}
