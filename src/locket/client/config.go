package client

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config holds the upstream client keys, so that the block a BBS, auctioneer
// or rep job renders serves our programs unchanged.
type Config struct {
	LocketAddress                string `json:"locket_address,omitempty" yaml:"locket_address,omitempty"`
	LocketCACertFile             string `json:"locket_ca_cert_file,omitempty" yaml:"locket_ca_cert_file,omitempty"`
	LocketClientCertFile         string `json:"locket_client_cert_file,omitempty" yaml:"locket_client_cert_file,omitempty"`
	LocketClientKeyFile          string `json:"locket_client_key_file,omitempty" yaml:"locket_client_key_file,omitempty"`
	LocketClientKeepAliveTime    int    `json:"locket_client_keepalive_time,omitempty" yaml:"locket_client_keepalive_time,omitempty"`
	LocketClientKeepAliveTimeout int    `json:"locket_client_keepalive_timeout,omitempty" yaml:"locket_client_keepalive_timeout,omitempty"`

	// SkipCertVerify disables verification of the server certificate (the
	// operator CLI's --skipCertVerify). Not a config file key.
	SkipCertVerify bool `json:"-" yaml:"-"`
}

// Keepalive defaults: what a foundation renders (diego-release's
// client_keepalive_time and client_keepalive_timeout).
const (
	DefaultKeepAliveTime    = 10 * time.Second
	DefaultKeepAliveTimeout = 22 * time.Second
)

// Validate checks the config without touching the files.
func (c Config) Validate() error {
	if c.LocketAddress == "" {
		return errors.New("locket_address is not set")
	}
	if _, _, err := splitAddress(c.LocketAddress); err != nil {
		return err
	}
	if c.LocketCACertFile == "" && !c.SkipCertVerify {
		return errors.New("locket_ca_cert_file is not set")
	}
	if c.LocketClientCertFile == "" || c.LocketClientKeyFile == "" {
		return errors.New("locket_client_cert_file and locket_client_key_file must both be set (Locket requires a client certificate)")
	}
	if c.LocketClientKeepAliveTime < 0 {
		return fmt.Errorf("locket_client_keepalive_time is negative (%d)", c.LocketClientKeepAliveTime)
	}
	if c.LocketClientKeepAliveTimeout < 0 {
		return fmt.Errorf("locket_client_keepalive_timeout is negative (%d)", c.LocketClientKeepAliveTimeout)
	}
	return nil
}

func (c Config) keepAlive() (time.Duration, time.Duration) {
	t, to := DefaultKeepAliveTime, DefaultKeepAliveTimeout
	if c.LocketClientKeepAliveTime > 0 {
		t = time.Duration(c.LocketClientKeepAliveTime) * time.Second
	}
	if c.LocketClientKeepAliveTimeout > 0 {
		to = time.Duration(c.LocketClientKeepAliveTimeout) * time.Second
	}
	return t, to
}

// splitAddress splits host:port and checks the port.
func splitAddress(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("locket_address %q is not host:port: %w", addr, err)
	}
	if host == "" {
		return "", "", fmt.Errorf("locket_address %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", "", fmt.Errorf("locket_address %q has an invalid port", addr)
	}
	return host, port, nil
}
