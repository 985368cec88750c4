package client

import (
	"context"
	"os"
)

// IfritRunner adapts a Runner to the runner interface of ifrit
// (github.com/tedsuo/ifrit), in which BBS and rep compose their processes,
// without depending on it: Run(signals, ready) closes ready when the lock is
// first acquired, as upstream's runner does, and releases it on a signal.
type IfritRunner struct {
	Runner *Runner
}

// Run implements ifrit.Runner.
func (a IfritRunner) Run(signals <-chan os.Signal, ready chan<- struct{}) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-signals:
			cancel()
		case <-done:
		}
	}()
	return a.Runner.run(ctx, func() { close(ready) })
}
