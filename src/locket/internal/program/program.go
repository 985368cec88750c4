// Package program holds what the client programs (lock-holder,
// presence-agent) share: the common keys of their JSON config file, their
// logger, and how they report their exit.
package program

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerflags"

	"github.com/locket-release/locket/client"
)

// Common are the keys every client program reads: the upstream client keys
// (one block serves BBS, rep and ours), the log component, and the upstream
// logging keys.
type Common struct {
	client.Config

	// Component is the log component: the "source" of every line and the
	// first part of its message.
	Component  string                `json:"component"`
	LogLevel   string                `json:"log_level"`
	TimeFormat lagerflags.TimeFormat `json:"time_format"`
}

// Load reads the JSON config file at path into cfg (a struct embedding
// Common). Unknown keys are ignored, as upstream components ignore them.
func Load(path string, cfg any) error {
	if path == "" {
		return errors.New("no config file given (-config=FILE)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate fills the defaults (component, log level) and checks the keys.
func (c *Common) Validate(defaultComponent string) error {
	if c.Component == "" {
		c.Component = defaultComponent
	}
	if c.LogLevel == "" {
		c.LogLevel = lagerflags.INFO
	}
	if _, err := lager.LogLevelFromString(c.LogLevel); err != nil {
		return fmt.Errorf("log_level %q: want debug, info, error or fatal", c.LogLevel)
	}
	return c.Config.Validate()
}

// Logger returns the program's logger: lager JSON lines on w (stdout) in the
// configured time format, from the configured level up.
func (c *Common) Logger(w io.Writer) lager.Logger {
	var sink lager.Sink
	if c.TimeFormat == lagerflags.FormatRFC3339 {
		sink = lager.NewPrettySink(w, lager.DEBUG)
	} else {
		sink = lager.NewWriterSink(w, lager.DEBUG)
	}
	level, err := lager.LogLevelFromString(c.LogLevel)
	if err != nil {
		level = lager.INFO // Validate refused anything else
	}
	logger := lager.NewLogger(c.Component)
	logger.RegisterSink(lager.NewReconfigurableSink(sink, level))
	return logger
}

// Exit logs how the program ends, as Diego components do (<c>.exited, or
// <c>.exited-with-failure at error level), and exits with code.
func Exit(logger lager.Logger, code int, err error) {
	if code == 0 {
		logger.Info("exited")
	} else {
		if err == nil {
			err = fmt.Errorf("exit status %d", code)
		}
		logger.Error("exited-with-failure", err, lager.Data{"exit-status": code})
	}
	os.Exit(code)
}

// Fail reports an error that stops the program before its logger exists (a
// bad config) on stderr, and exits 2.
func Fail(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(2)
}
