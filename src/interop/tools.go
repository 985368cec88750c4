//go:build tools

package interop

// The upstream server binary is built from this module's requirements
// (go build code.cloudfoundry.org/locket/cmd/locket), so its main package
// must stay in the module graph.
import _ "code.cloudfoundry.org/locket/cmd/locket"
