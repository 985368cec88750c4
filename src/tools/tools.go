//go:build tools

// Package tools pins the command-line tools the release scripts build (the
// BOSH CLI). The module proxy serves these modules only at exact versions,
// so they are required here and built with `go build`, never `go install`.
package tools

import (
	_ "github.com/cloudfoundry/bosh-cli/v7"
)
