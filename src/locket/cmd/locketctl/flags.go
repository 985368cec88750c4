package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/locket-release/locket/client"
)

// errHelp ends a run that printed help.
var errHelp = errors.New("help")

// connFlags are cfdot's connection flags. cfdot accepts its generic TLS
// flags (--caCertFile, ...) and, more specific, the --locket* ones; so do we.
type connFlags struct {
	apiLocation                                string
	caCertFile, certFile, keyFile              string
	locketCACertFile, locketCert, locketKey    string
	skipCertVerify, locketSkipCertVerify       bool
	skipCertVerifySet, locketSkipCertVerifySet bool
	timeoutSeconds                             int
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.apiLocation, "locketAPILocation", "", "Hostname:Port of Locket server to target [environment variable equivalent: LOCKET_API_LOCATION]")
	fs.StringVar(&c.caCertFile, "caCertFile", "", "path to the CA certificate that signed the server certificate [environment variable equivalent: CA_CERT_FILE]")
	fs.StringVar(&c.certFile, "clientCertFile", "", "path to the TLS client certificate [environment variable equivalent: CLIENT_CERT_FILE]")
	fs.StringVar(&c.keyFile, "clientKeyFile", "", "path to the TLS client private key [environment variable equivalent: CLIENT_KEY_FILE]")
	fs.Var(trackedBool{&c.skipCertVerify, &c.skipCertVerifySet}, "skipCertVerify", "when set to true, skips verification of the server certificate [environment variable equivalent: SKIP_CERT_VERIFY]")
	fs.StringVar(&c.locketCACertFile, "locketCACertFile", "", "like --caCertFile, for Locket only [LOCKET_CA_CERT_FILE]")
	fs.StringVar(&c.locketCert, "locketCertFile", "", "like --clientCertFile, for Locket only [LOCKET_CERT_FILE]")
	fs.StringVar(&c.locketKey, "locketKeyFile", "", "like --clientKeyFile, for Locket only [LOCKET_KEY_FILE]")
	fs.Var(trackedBool{&c.locketSkipCertVerify, &c.locketSkipCertVerifySet}, "locketSkipCertVerify", "like --skipCertVerify, for Locket only [LOCKET_SKIP_CERT_VERIFY]")
	fs.IntVar(&c.timeoutSeconds, "timeout", 0, "seconds to wait for Locket, connecting included (default 10) [environment variable equivalent: CFDOT_TIMEOUT]")
}

// trackedBool is a bool flag (--skipCertVerify, --skipCertVerify=false) that
// records whether it was given, so that the environment variable applies
// only when it was not.
type trackedBool struct{ v, set *bool }

func (b trackedBool) IsBoolFlag() bool { return true }

func (b trackedBool) String() string {
	if b.v == nil {
		return "false"
	}
	return strconv.FormatBool(*b.v)
}

func (b trackedBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	*b.v, *b.set = v, true
	return nil
}

// config resolves the flags and environment into the client config:
// --locket* flag, then the generic flag, then LOCKET_* variable, then the
// generic variable.
func (c *connFlags) config() (client.Config, time.Duration, error) {
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	cfg := client.Config{
		LocketAddress:        pick(c.apiLocation, os.Getenv("LOCKET_API_LOCATION")),
		LocketCACertFile:     pick(c.locketCACertFile, c.caCertFile, os.Getenv("LOCKET_CA_CERT_FILE"), os.Getenv("CA_CERT_FILE")),
		LocketClientCertFile: pick(c.locketCert, c.certFile, os.Getenv("LOCKET_CERT_FILE"), os.Getenv("CLIENT_CERT_FILE")),
		LocketClientKeyFile:  pick(c.locketKey, c.keyFile, os.Getenv("LOCKET_KEY_FILE"), os.Getenv("CLIENT_KEY_FILE")),
	}
	skip, err := c.skip()
	if err != nil {
		return client.Config{}, 0, usageError{err}
	}
	cfg.SkipCertVerify = skip

	switch {
	case cfg.LocketAddress == "":
		return cfg, 0, usageError{errors.New("Locket API Location not set. Please specify one with the '--locketAPILocation' flag or the 'LOCKET_API_LOCATION' environment variable.")}
	case cfg.LocketCACertFile == "" && !skip:
		return cfg, 0, usageError{errors.New("--caCertFile must be specified if --skipCertVerify is not set")}
	case cfg.LocketClientCertFile == "" || cfg.LocketClientKeyFile == "":
		return cfg, 0, usageError{errors.New("--clientCertFile and --clientKeyFile must both be specified for TLS connections.")}
	}
	for _, f := range []struct{ what, path string }{
		{"CA cert", cfg.LocketCACertFile}, {"cert", cfg.LocketClientCertFile}, {"key", cfg.LocketClientKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			return cfg, 0, usageError{fmt.Errorf("%s file '%s' doesn't exist or is not readable: %w", f.what, f.path, err)}
		} else {
			fh.Close()
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, usageError{err}
	}

	timeout := c.timeoutSeconds
	if timeout == 0 {
		if v := os.Getenv("CFDOT_TIMEOUT"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cfg, 0, usageError{fmt.Errorf("CFDOT_TIMEOUT %q is not a number of seconds", v)}
			}
			timeout = n
		}
	}
	if timeout < 0 {
		return cfg, 0, usageError{errors.New("--timeout is negative")}
	}
	if timeout == 0 {
		timeout = 10
	}
	return cfg, time.Duration(timeout) * time.Second, nil
}

func (c *connFlags) skip() (bool, error) {
	switch {
	case c.locketSkipCertVerifySet:
		return c.locketSkipCertVerify, nil
	case c.skipCertVerifySet:
		return c.skipCertVerify, nil
	}
	for _, name := range []string{"LOCKET_SKIP_CERT_VERIFY", "SKIP_CERT_VERIFY"} {
		if v := os.Getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, fmt.Errorf("The value '%s' is not a valid value for %s. Please specify one of the following valid boolean values: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False", v, name)
			}
			return b, nil
		}
	}
	return false, nil
}

// parseArgs parses flags anywhere among the arguments (cfdot's flag library
// does) and returns the positional ones; "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
