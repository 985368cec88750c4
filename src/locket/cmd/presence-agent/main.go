// Command presence-agent keeps a cell's presence in Locket, as a rep does:
// key = the cell id, value = a JSON cell description, owner = a new UUID at
// every start (unless configured). It never gives up on a lost presence; on
// SIGTERM or SIGINT it releases the presence and logs <component>.exited.
//
//	presence-agent -config=FILE
//
// See docs/client-programs.md.
package main

import (
	"context"
	"encoding/json"
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

// maxValueLength is what a Locket server stores in a value.
const maxValueLength = 4096

// Config is presence-agent's config file.
type Config struct {
	program.Common

	CellID             string           `json:"cell_id"`
	Owner              string           `json:"owner"`
	RepAddress         string           `json:"rep_address"`
	Zone               string           `json:"zone"`
	RepURL             string           `json:"rep_url"`
	Capacity           Capacity         `json:"capacity"`
	RootFSProviderList []RootFSProvider `json:"rootfs_provider_list"`
	TTLInSeconds       int64            `json:"ttl_in_seconds"`
	RetryInterval      config.Duration  `json:"retry_interval"`
}

// CellPresence is the presence value, in the JSON shape of Diego's
// models.CellPresence that BBS reads (the seed shows one).
type CellPresence struct {
	CellID             string           `json:"cell_id"`
	RepAddress         string           `json:"rep_address"`
	Zone               string           `json:"zone"`
	Capacity           Capacity         `json:"capacity"`
	RootFSProviderList []RootFSProvider `json:"rootfs_provider_list"`
	RepURL             string           `json:"rep_url"`
}

// Capacity is a cell's capacity.
type Capacity struct {
	MemoryMB   int `json:"memory_mb"`
	DiskMB     int `json:"disk_mb"`
	Containers int `json:"containers"`
}

// RootFSProvider is one entry of rootfs_provider_list.
type RootFSProvider struct {
	Name       string   `json:"name"`
	Properties []string `json:"properties,omitempty"`
}

func (c *Config) validate() error {
	if c.TTLInSeconds == 0 {
		c.TTLInSeconds = client.DefaultTTLInSeconds
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = config.Duration(client.DefaultRetryInterval)
	}
	switch {
	case c.CellID == "":
		return errors.New("cell_id is not set")
	case c.TTLInSeconds < 0:
		return fmt.Errorf("ttl_in_seconds %d is not positive", c.TTLInSeconds)
	case c.RetryInterval.D() >= time.Duration(c.TTLInSeconds)*time.Second:
		return fmt.Errorf("retry_interval %s is not shorter than ttl_in_seconds (%d s)", c.RetryInterval.D(), c.TTLInSeconds)
	case c.Capacity.MemoryMB < 0 || c.Capacity.DiskMB < 0 || c.Capacity.Containers < 0:
		return errors.New("capacity values must not be negative")
	}
	for i, p := range c.RootFSProviderList {
		if p.Name == "" {
			return fmt.Errorf("rootfs_provider_list[%d] has no name", i)
		}
	}
	if v, err := c.value(); err != nil {
		return err
	} else if len(v) > maxValueLength {
		return fmt.Errorf("the cell description is %d bytes of JSON; Locket stores at most %d", len(v), maxValueLength)
	}
	return c.Common.Validate("presence-agent")
}

// value is the presence value: the cell description as JSON.
func (c *Config) value() (string, error) {
	list := c.RootFSProviderList
	if list == nil {
		list = []RootFSProvider{}
	}
	b, err := json.Marshal(CellPresence{
		CellID:             c.CellID,
		RepAddress:         c.RepAddress,
		Zone:               c.Zone,
		Capacity:           c.Capacity,
		RootFSProviderList: list,
		RepURL:             c.RepURL,
	})
	if err != nil {
		return "", fmt.Errorf("encode the cell description: %w", err)
	}
	return string(b), nil
}

func main() {
	configFile := flag.String("config", "", "path to the JSON config file")
	flag.Parse()
	if flag.NArg() > 0 {
		program.Fail("presence-agent", fmt.Errorf("unexpected arguments %q", flag.Args()))
	}

	var cfg Config
	if err := program.Load(*configFile, &cfg); err != nil {
		program.Fail("presence-agent", err)
	}
	if err := cfg.validate(); err != nil {
		program.Fail("presence-agent", fmt.Errorf("config file %s: %w", *configFile, err))
	}
	if cfg.Owner == "" {
		// A new owner at every start, as rep does: the presence of a
		// previous run (not released, e.g. after a crash) is not renewed by
		// this one; it expires, and this run takes the key after it.
		cfg.Owner = client.NewRequestID()
	}
	logger := cfg.Logger(os.Stdout)
	code, err := run(logger, cfg)
	program.Exit(logger, code, err)
}

func run(logger lager.Logger, cfg Config) (int, error) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		sig := <-signals
		logger.Info("signalled", lager.Data{"signal": sig.String()})
		cancel()
	}()

	value, err := cfg.value()
	if err != nil {
		return 1, err
	}
	c, err := client.Dial(cfg.Config)
	if err != nil {
		logger.Error("failed-to-create-locket-client", err)
		return 1, err
	}
	defer c.Close()

	runner, err := client.NewPresenceRunner(logger, c, client.RunnerConfig{
		Key:           cfg.CellID,
		Owner:         cfg.Owner,
		Value:         value,
		TTLInSeconds:  cfg.TTLInSeconds,
		RetryInterval: cfg.RetryInterval.D(),
	})
	if err != nil {
		return 1, err
	}
	// Run returns only when ctx ends (a presence runner never gives up);
	// it has released the presence by then.
	if err := runner.Run(ctx); err != nil {
		return 1, err
	}
	return 0, nil
}
