package interop

import (
	"io"
	"testing"

	"code.cloudfoundry.org/lager/v3"
	upstreamlocket "code.cloudfoundry.org/locket"
	upstreammodels "code.cloudfoundry.org/locket/models"

	"github.com/locket-release/locket/internal/testenv"
)

// sqlDrivers are the drivers both upstream and ours support.
func forEachSQLDriver(t *testing.T, f func(t *testing.T, driver string)) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("upstream Locket has no SQLite driver")
		}
		f(t, driver)
	})
}

// upstreamClient connects upstream's Go client, as BBS and rep build it, to
// address with the test PKI.
func upstreamClient(t *testing.T, address string, c *testenv.Certs) upstreammodels.LocketClient {
	t.Helper()
	client, err := upstreamlocket.NewClient(quietLogger(), upstreamlocket.ClientLocketConfig{
		LocketAddress:                address,
		LocketCACertFile:             c.CAFile,
		LocketClientCertFile:         c.ClientCertFile,
		LocketClientKeyFile:          c.ClientKey,
		LocketClientKeepAliveTime:    10,
		LocketClientKeepAliveTimeout: 22,
	})
	if err != nil {
		t.Fatalf("upstream client to %s: %v", address, err)
	}
	return client
}

func quietLogger() lager.Logger {
	l := lager.NewLogger("interop")
	l.RegisterSink(lager.NewWriterSink(io.Discard, lager.ERROR))
	return l
}

func lockResource(key, owner string) *upstreammodels.Resource {
	return &upstreammodels.Resource{Key: key, Owner: owner, TypeCode: upstreammodels.LOCK}
}
