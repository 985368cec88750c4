// Package tlsconfig builds the TLS settings Locket uses on both ends: mutual
// TLS, 1.2 to 1.3, and only the TLS 1.2 suites diego-release allows.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// CipherSuites are the TLS 1.2 suites upstream Locket accepts (TLS 1.3 suites
// are not configurable in Go and are all strong).
var CipherSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
}

// Server returns the config of a server that requires a client certificate
// signed by a CA in caFile.
func Server(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pool, err := LoadCAs(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: CipherSuites,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// Client returns the config of a client presenting certFile/keyFile and
// trusting caFile; serverName is checked against the server certificate.
// With skipVerify the server is not verified (the operator CLI's
// --skipCertVerify); the client certificate is still presented.
func Client(certFile, keyFile, caFile, serverName string, skipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS13,
		CipherSuites:       CipherSuites,
		ServerName:         serverName,
		InsecureSkipVerify: skipVerify, // only when the operator asks for it
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pool, err := LoadCAs(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	} else if !skipVerify {
		return nil, fmt.Errorf("no CA certificate file given to verify the server with")
	}
	return cfg, nil
}

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
