package client

import (
	"context"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
)

// keyWatcher keeps a Watch stream on one key open while a runner waits for
// the lock, and signals freed when the holder releases it or it expires, so
// that the runner tries at once instead of at its next retry (docs/
// features.md, "Instant handoff"). Against a server without Watch (upstream
// answers Unimplemented) it stops, and the runner polls as upstream's does.
type keyWatcher struct {
	client models.LocketClient
	key    string
	tc     models.TypeCode
	logger lager.Logger
	freed  chan struct{}
}

// watchBackoff is the pause before reopening a broken stream.
const watchBackoff = 500 * time.Millisecond

func newKeyWatcher(logger lager.Logger, c models.LocketClient, key string, tc models.TypeCode) *keyWatcher {
	return &keyWatcher{client: c, key: key, tc: tc, logger: logger, freed: make(chan struct{}, 1)}
}

// run watches until ctx ends or the server turns out not to support Watch.
func (w *keyWatcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.Unimplemented {
			w.logger.Info("watch-unsupported-polling")
			return
		}
		w.logger.Debug("watch-interrupted", lager.Data{"error": err.Error()})
		select {
		case <-ctx.Done():
		case <-time.After(watchBackoff):
		}
	}
}

func (w *keyWatcher) watchOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := w.client.Watch(ctx, &models.WatchRequest{Key: w.key, TypeCode: w.tc})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		switch ev.GetType() {
		case models.EventType_RELEASED, models.EventType_EXPIRED:
			select {
			case w.freed <- struct{}{}:
			default:
			}
		}
	}
}

// FencingToken returns the fencing token of the runner's current holding:
// strictly increasing per key across holders, so a resource that remembers
// the highest token it saw can refuse the writes of a former holder
// (docs/features.md). 0 while not holding, or against an upstream server.
func (r *Runner) FencingToken() int64 { return r.token.Load() }
