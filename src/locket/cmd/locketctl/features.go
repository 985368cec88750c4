package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/models"
)

// Commands for our extensions (docs/features.md): watch, history, who.
// Against an upstream server they fail with Unimplemented (watch, history);
// who works everywhere but shows no token or times there.

// eventJSON is one ownership change, as watch and history print it.
type eventJSON struct {
	ID            int64  `json:"id,omitempty"`
	Event         string `json:"event"`
	Time          string `json:"time,omitempty"`
	Key           string `json:"key,omitempty"`
	Type          string `json:"type,omitempty"`
	Owner         string `json:"owner,omitempty"`
	PreviousOwner string `json:"previous_owner,omitempty"`
	Value         string `json:"value,omitempty"`
	FencingToken  int64  `json:"fencing_token,omitempty"`
	Server        string `json:"server,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
	Identity      string `json:"identity,omitempty"`
}

var eventNames = map[models.EventType]string{
	models.EventType_WATCH_STARTED: "watch-started",
	models.EventType_ACQUIRED:      "acquired",
	models.EventType_TAKEN_OVER:    "taken-over",
	models.EventType_RELEASED:      "released",
	models.EventType_EXPIRED:       "expired",
}

func microsTime(us int64) string {
	if us == 0 {
		return ""
	}
	return time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
}

func newEventJSON(e *models.Event) eventJSON {
	r := e.GetResource()
	return eventJSON{
		ID: e.GetId(), Event: eventNames[e.GetType()], Time: microsTime(e.GetAtUnixMicros()),
		Key: r.GetKey(), Type: r.GetType(), Owner: r.GetOwner(), PreviousOwner: e.GetPreviousOwner(), Value: r.GetValue(),
		FencingToken: r.GetFencingToken(), Server: e.GetServer(), RequestID: e.GetRequestId(), Identity: e.GetIdentity(),
	}
}

func (c *command) featureFlags(name string) {
	c.fs.StringVar(&c.typeName, "type", "", "lock or presence (default: both)")
	if name == "history" {
		c.fs.IntVar(&c.limit, "limit", 100, "how many events, newest first (at most 1000)")
		c.fs.IntVar(&c.limit, "n", 100, "shorthand for --limit")
	}
	c.outputFlags()
}

// featureArgs takes the optional KEY (required for who).
func (c *command) featureArgs(name string, pos *[]string) error {
	switch {
	case len(*pos) == 1:
		c.key = (*pos)[0]
	case len(*pos) > 1:
		return usageError{fmt.Errorf("%s takes at most one KEY, got %q", name, *pos)}
	case name == "who":
		return usageError{errors.New("who needs a KEY")}
	}
	*pos = nil
	switch c.typeName {
	case "", "lock", "presence":
	default:
		return usageError{fmt.Errorf("--type %q: want lock or presence", c.typeName)}
	}
	if c.limit < 0 || c.limit > 1000 {
		return usageError{fmt.Errorf("--limit %d: want 1 to 1000", c.limit)}
	}
	return nil
}

func (c *command) typeCode() models.TypeCode { return models.TypeCodeOf(c.typeName) }

// watchCmd prints events as they happen, until interrupted. It runs without
// the command timeout (see dispatch).
func (c *command) watchCmd(_ context.Context, cl *client.Client, _ []string, w io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stream, err := cl.Watch(ctx, &models.WatchRequest{Key: c.key, TypeCode: c.typeCode()})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for {
		e, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		}
		if c.table {
			fmt.Fprintf(w, "%s  %-13s %s owner=%s token=%d\n", microsTime(e.GetAtUnixMicros()), eventNames[e.GetType()],
				e.GetResource().GetKey(), e.GetResource().GetOwner(), e.GetResource().GetFencingToken())
			continue
		}
		if err := enc.Encode(newEventJSON(e)); err != nil {
			return err
		}
	}
}

func (c *command) historyCmd(ctx context.Context, cl *client.Client, _ []string, w io.Writer) error {
	resp, err := cl.History(ctx, &models.HistoryRequest{Key: c.key, TypeCode: c.typeCode(), Limit: int32(c.limit)})
	if err != nil {
		return err
	}
	if c.table {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tEVENT\tKEY\tTYPE\tOWNER\tPREVIOUS OWNER\tTOKEN\tSERVER\tREQUEST ID")
		for _, e := range resp.GetEvents() {
			r := e.GetResource()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", microsTime(e.GetAtUnixMicros()), eventNames[e.GetType()],
				r.GetKey(), r.GetType(), r.GetOwner(), e.GetPreviousOwner(), r.GetFencingToken(), e.GetServer(), e.GetRequestId())
		}
		return tw.Flush()
	}
	enc := json.NewEncoder(w)
	for _, e := range resp.GetEvents() {
		if err := enc.Encode(newEventJSON(e)); err != nil {
			return err
		}
	}
	return nil
}

// whoJSON answers "who holds KEY, since when, with which token, for how
// much longer".
type whoJSON struct {
	Key          string `json:"key"`
	Owner        string `json:"owner"`
	Type         string `json:"type,omitempty"`
	Since        string `json:"since,omitempty"`
	HeldFor      string `json:"held_for,omitempty"`
	FencingToken int64  `json:"fencing_token,omitempty"`
	ExpiresIn    string `json:"expires_in,omitempty"`
}

func (c *command) whoCmd(ctx context.Context, cl *client.Client, _ []string, w io.Writer) error {
	resp, err := cl.Fetch(ctx, &models.FetchRequest{Key: c.key})
	if err != nil {
		return err
	}
	r := resp.GetResource()
	out := whoJSON{Key: r.GetKey(), Owner: r.GetOwner(), Type: r.GetType(), FencingToken: r.GetFencingToken()}
	if us := r.GetAcquiredAtUnixMicros(); us > 0 {
		out.Since = microsTime(us)
		out.HeldFor = time.Since(time.UnixMicro(us)).Round(time.Millisecond).String()
	}
	if r.GetFencingToken() > 0 { // our server: expires_in_ms is meaningful
		out.ExpiresIn = (time.Duration(r.GetExpiresInMs()) * time.Millisecond).String()
	}
	if c.table {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tOWNER\tTYPE\tSINCE\tHELD FOR\tTOKEN\tEXPIRES IN")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", out.Key, out.Owner, out.Type, out.Since, out.HeldFor, out.FencingToken, out.ExpiresIn)
		return tw.Flush()
	}
	return json.NewEncoder(w).Encode(out)
}
