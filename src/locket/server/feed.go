package server

import (
	"context"
	"sync"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/store"
)

// FeedStore is what the change feed reads.
type FeedStore interface {
	EventsAfter(ctx context.Context, after int64) ([]store.Event, int64, error)
	LastEventID(ctx context.Context) (int64, error)
	Changed() <-chan struct{}
}

// Feed polls locket_history for ownership changes made through any server
// and fans them out to Watch streams. It polls only while someone watches:
// every FeedInterval, and at once after a change this server committed.
//
// History ids are assigned when a change is written, not when it commits,
// and Galera nodes interleave them; so the feed does not trust "id > last
// seen". It re-reads every id above a low-water mark that only passes ids
// whose events are older than FeedOverlap on the database clock, and skips
// the ids it has already delivered.
type Feed struct {
	st       FeedStore
	logger   lager.Logger
	interval time.Duration
	overlap  time.Duration

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	primed  bool
	wake    chan struct{}
	closing chan struct{} // closed by Close: Watch streams end
	once    sync.Once
}

// Feed timing.
const (
	FeedInterval = 25 * time.Millisecond
	FeedOverlap  = 15 * time.Second
	// primeWindow ids before the newest are read (not delivered) when
	// watching starts, so that changes in flight then are not missed.
	primeWindow = 1000
	subBuffer   = 1024
)

// Subscription is one Watch stream's view of the feed.
type Subscription struct {
	match  func(store.Event) bool
	C      chan store.Event
	ready  chan struct{} // closed once every later change will be delivered
	lagged chan struct{} // closed when the stream fell behind and was dropped
}

// NewFeed returns a Feed; Run it.
func NewFeed(st FeedStore, logger lager.Logger) *Feed {
	return &Feed{st: st, logger: logger.Session("change-feed"), interval: FeedInterval, overlap: FeedOverlap,
		subs: map[*Subscription]struct{}{}, wake: make(chan struct{}, 1), closing: make(chan struct{})}
}

// Close ends every Watch stream (they would otherwise hold a graceful stop
// for its whole grace period); clients watch again on another server.
func (f *Feed) Close() { f.once.Do(func() { close(f.closing) }) }

// Closing is closed when the server stops.
func (f *Feed) Closing() <-chan struct{} { return f.closing }

// Subscribe registers a watcher for the events match accepts.
func (f *Feed) Subscribe(match func(store.Event) bool) *Subscription {
	s := &Subscription{match: match, C: make(chan store.Event, subBuffer), ready: make(chan struct{}), lagged: make(chan struct{})}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	if f.primed {
		close(s.ready)
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return s
}

// Unsubscribe removes s.
func (f *Feed) Unsubscribe(s *Subscription) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

// Run polls until ctx is done.
func (f *Feed) Run(ctx context.Context) {
	var (
		low     int64
		seen    = map[int64]int64{} // id -> at
		failing bool
	)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.st.Changed():
		case <-f.wake:
		}
		f.mu.Lock()
		n, primed := len(f.subs), f.primed
		if n == 0 {
			f.primed = false
		}
		f.mu.Unlock()
		if n == 0 {
			clear(seen)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if !primed {
			low, err = f.st.LastEventID(pctx)
			low = max(0, low-primeWindow)
			clear(seen)
		}
		if err == nil {
			low, err = f.poll(pctx, low, seen, primed)
		}
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				f.logger.Error("feed-failed", err)
				failing = true
			}
			continue
		case err == nil && failing:
			f.logger.Info("feed-recovered")
			failing = false
		}
		if !primed && err == nil {
			f.mu.Lock()
			f.primed = true
			for s := range f.subs {
				select {
				case <-s.ready:
				default:
					close(s.ready)
				}
			}
			f.mu.Unlock()
		}
	}
}

// poll reads every event above low, delivers the unseen ones (unless
// priming) and returns the new low-water mark.
func (f *Feed) poll(ctx context.Context, low int64, seen map[int64]int64, deliver bool) (int64, error) {
	after := low
	var now int64
	for {
		evs, dbNow, err := f.st.EventsAfter(ctx, after)
		if err != nil {
			return low, err
		}
		now = dbNow
		for _, e := range evs {
			after = e.ID
			if _, ok := seen[e.ID]; ok {
				continue
			}
			seen[e.ID] = e.At
			if deliver {
				f.deliver(e)
			}
		}
		if len(evs) < 1000 {
			break
		}
	}
	// Pass the ids older than the overlap: nothing can still commit below
	// them (a write that old has finished or failed).
	horizon := now - f.overlap.Microseconds()
	newLow := low
	for id, at := range seen {
		if at < horizon && id > newLow {
			newLow = id
		}
	}
	for id := range seen {
		if id <= newLow {
			delete(seen, id)
		}
	}
	return newLow, nil
}

func (f *Feed) deliver(e store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if !s.match(e) {
			continue
		}
		select {
		case s.C <- e:
		default:
			// A stream that cannot keep up is dropped rather than slowing
			// every other watcher; its client reconnects.
			close(s.lagged)
			delete(f.subs, s)
		}
	}
}
