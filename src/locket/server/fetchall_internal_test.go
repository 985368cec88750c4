package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locket-release/locket/models"
)

// TestFetchAllGroupNeverServesAnOlderRead: callers that arrive while a read
// runs do not get that read's answer; they share the next one, which starts
// only when the running one has ended.
func TestFetchAllGroupNeverServesAnOlderRead(t *testing.T) {
	var g fetchAllGroup
	var reads, running, maxRunning atomic.Int32
	release := make(chan struct{})
	read := func() (*models.FetchAllResponse, error) {
		n := reads.Add(1)
		if r := running.Add(1); r > maxRunning.Load() {
			maxRunning.Store(r)
		}
		defer running.Add(-1)
		if n == 1 {
			<-release // the first read runs until the others have arrived
		}
		return &models.FetchAllResponse{Resources: []*models.Resource{{Key: "read", Value: string(rune('0' + n))}}}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := make(chan string, 1)
	go func() {
		r, err := g.do(ctx, "presence", read)
		if err != nil {
			t.Error(err)
		}
		first <- r.GetResources()[0].GetValue()
	}()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const later = 8
	var wg sync.WaitGroup
	got := make([]string, later)
	for i := range later {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.do(ctx, "presence", read)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = r.GetResources()[0].GetValue()
		}()
	}
	// Let the later callers queue up behind the running read.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if v := <-first; v != "1" {
		t.Fatalf("first caller got read %s, want 1", v)
	}
	for i, v := range got {
		if v != "2" {
			t.Fatalf("caller %d that arrived during read 1 got read %s, want 2 (the next read, shared)", i, v)
		}
	}
	if reads.Load() != 2 || maxRunning.Load() != 1 {
		t.Fatalf("%d reads, at most %d at once; want 2 and 1", reads.Load(), maxRunning.Load())
	}
}

// TestFetchAllGroupCallerGivesUp: a caller whose context ends stops waiting;
// the read it joined still serves the others.
func TestFetchAllGroupCallerGivesUp(t *testing.T) {
	var g fetchAllGroup
	release := make(chan struct{})
	read := func() (*models.FetchAllResponse, error) {
		<-release
		return &models.FetchAllResponse{}, nil
	}
	bg, cancelAll := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelAll()
	leader := make(chan error, 1)
	go func() {
		_, err := g.do(bg, "lock", read)
		leader <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(bg)
	follower := make(chan error, 1)
	go func() {
		_, err := g.do(ctx, "lock", read)
		follower <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-follower; err != context.Canceled {
		t.Fatalf("follower: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}
}
