// Package interop checks our Locket against upstream Locket v1.5.0, used as a
// reference peer: upstream's Go client and runners (as BBS and rep use them)
// against our server, and upstream's server and ours on one database during a
// rolling swap. It is a module of its own so that the release's vendored
// module never depends on upstream.
package interop
