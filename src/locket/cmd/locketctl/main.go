// Command locketctl is the operator CLI: cfdot's Locket commands with the
// same flags, environment variables and JSON-lines output, plus `get` and a
// table output for people. It works against upstream's server as well as
// ours.
//
//	locketctl locks|presences [-t | --output table]
//	locketctl get KEY [-t | --output table]
//	locketctl claim-lock|claim-presence -k KEY -o OWNER [-v VALUE] -t TTL
//	locketctl release-lock -k KEY -o OWNER
//
// Errors go to stderr; the exit status is 3 for a usage error and 4 for an
// error from Locket (cfdot's codes).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit statuses (cfdot's).
const (
	exitUsage  = 3
	exitLocket = 4
)

// usageError is a mistake on the command line.
type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout)
	if err == nil {
		return 0
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'locketctl help' for usage.")
		return exitUsage
	}
	return exitLocket
}
