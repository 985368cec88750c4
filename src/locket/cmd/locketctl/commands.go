package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/models"
)

const usage = `locketctl: Locket operator CLI (cfdot's Locket commands, and more)

Commands:
  locks           list locks, one JSON object per line
  presences       list presences, one JSON object per line
  get KEY         show one lock or presence
  claim-lock      claim (or renew) a lock: -k KEY -o OWNER [-v VALUE] -t TTL
  claim-presence  claim (or renew) a presence: -k KEY -o OWNER [-v VALUE] -t TTL
  release-lock    release a lock or presence: -k KEY -o OWNER
  who KEY         who holds KEY: owner, since when, fencing token, expires in
  history [KEY]   ownership changes, newest first [--type lock|presence] [-n N]
  watch [KEY]     print ownership changes as they happen [--type lock|presence]

Output of locks, presences and get: --output json (default) or --output table (-t).

Connection (flag, then environment variable):
  --locketAPILocation HOST:PORT   LOCKET_API_LOCATION
  --caCertFile FILE               CA_CERT_FILE      (or --locketCACertFile, LOCKET_CA_CERT_FILE)
  --clientCertFile FILE           CLIENT_CERT_FILE  (or --locketCertFile, LOCKET_CERT_FILE)
  --clientKeyFile FILE            CLIENT_KEY_FILE   (or --locketKeyFile, LOCKET_KEY_FILE)
  --skipCertVerify                SKIP_CERT_VERIFY  (or --locketSkipCertVerify, LOCKET_SKIP_CERT_VERIFY)
  --timeout SECONDS               CFDOT_TIMEOUT     (default 10)

Exit status: 0 success, 3 usage error, 4 error from Locket.
`

// command is one subcommand: its flags and what it does with a client.
type command struct {
	conn connFlags
	fs   *flag.FlagSet

	// list and get
	output string
	table  bool
	// claim and release
	key, owner, value string
	ttl               int64
	// watch, history, who (features.go)
	typeName string
	limit    int
}

func dispatch(args []string, stdout io.Writer) error {
	// Connection flags may come before the command, too.
	var global command
	global.fs = flag.NewFlagSet("locketctl", flag.ContinueOnError)
	global.conn.register(global.fs)
	global.fs.SetOutput(io.Discard)
	if err := global.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return errHelp
		}
		return usageError{err}
	}
	args = global.fs.Args()
	if len(args) == 0 {
		return usageError{errors.New("no command given")}
	}
	name, args := args[0], args[1:]
	if name == "help" {
		fmt.Fprint(stdout, usage)
		return errHelp
	}

	var c command
	c.fs = flag.NewFlagSet("locketctl "+name, flag.ContinueOnError)
	c.conn.register(c.fs)
	// Carry over the connection flags given before the command.
	global.fs.Visit(func(f *flag.Flag) { _ = c.fs.Set(f.Name, f.Value.String()) })
	var run func(context.Context, *client.Client, []string, io.Writer) error
	switch name {
	case "locks":
		c.outputFlags()
		run = c.list(models.TypeCode_LOCK)
	case "presences":
		c.outputFlags()
		run = c.list(models.TypeCode_PRESENCE)
	case "get":
		c.outputFlags()
		c.fs.StringVar(&c.key, "key", "", "the key (instead of the argument)")
		c.fs.StringVar(&c.key, "k", "", "shorthand for --key")
		run = c.get
	case "claim-lock":
		c.claimFlags()
		run = c.claim(models.TypeCode_LOCK)
	case "claim-presence":
		c.claimFlags()
		run = c.claim(models.TypeCode_PRESENCE)
	case "release-lock":
		c.keyOwnerFlags()
		run = c.release
	case "watch":
		c.featureFlags(name)
		run = c.watchCmd
	case "history":
		c.featureFlags(name)
		run = c.historyCmd
	case "who":
		c.featureFlags(name)
		run = c.whoCmd
	default:
		return usageError{fmt.Errorf("unknown command %q", name)}
	}
	pos, err := parseArgs(c.fs, args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return errHelp
	}
	if err != nil {
		return err
	}
	if err := c.validate(name, &pos); err != nil {
		return err
	}

	cfg, timeout, err := c.conn.config()
	if err != nil {
		return err
	}
	cl, err := client.Dial(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := run(ctx, cl, pos, stdout); err != nil {
		return describe(name, cfg.LocketAddress, timeout, err)
	}
	return nil
}

func (c *command) outputFlags() {
	c.fs.StringVar(&c.output, "output", "json", "json (one object per line) or table")
	c.fs.BoolVar(&c.table, "t", false, "shorthand for --output table")
}

func (c *command) keyOwnerFlags() {
	c.fs.StringVar(&c.key, "key", "", "the key")
	c.fs.StringVar(&c.key, "k", "", "shorthand for --key")
	c.fs.StringVar(&c.owner, "owner", "", "the owner")
	c.fs.StringVar(&c.owner, "o", "", "shorthand for --owner")
}

func (c *command) claimFlags() {
	c.keyOwnerFlags()
	c.fs.StringVar(&c.value, "value", "", "the value associated with the key")
	c.fs.StringVar(&c.value, "v", "", "shorthand for --value")
	c.fs.Int64Var(&c.ttl, "ttl", 0, "the TTL in seconds")
	c.fs.Int64Var(&c.ttl, "t", 0, "shorthand for --ttl")
}

// validate checks the command's own flags and arguments (cfdot's messages).
func (c *command) validate(name string, pos *[]string) error {
	if name == "watch" || name == "history" || name == "who" {
		if err := c.featureArgs(name, pos); err != nil {
			return err
		}
	}
	if name == "get" {
		switch {
		case len(*pos) == 1 && c.key == "":
			c.key = (*pos)[0]
		case len(*pos) == 0 && c.key != "":
		case len(*pos) == 0:
			return usageError{errors.New("get needs a KEY")}
		default:
			return usageError{fmt.Errorf("get takes one KEY, got %q", *pos)}
		}
		*pos = nil
	}
	if len(*pos) > 0 {
		return usageError{fmt.Errorf("too many arguments: %q", *pos)}
	}
	switch c.output {
	case "", "json":
	case "table":
		c.table = true
	default:
		return usageError{fmt.Errorf("--output %q: want json or table", c.output)}
	}
	switch name {
	case "claim-lock", "claim-presence", "release-lock":
		if c.key == "" {
			return usageError{errors.New("key cannot be empty")}
		}
		if c.owner == "" {
			return usageError{errors.New("owner cannot be empty")}
		}
	}
	if (name == "claim-lock" || name == "claim-presence") && c.ttl <= 0 {
		return usageError{errors.New("ttl should be an integer greater than zero")}
	}
	return nil
}

func (c *command) list(tc models.TypeCode) func(context.Context, *client.Client, []string, io.Writer) error {
	return func(ctx context.Context, cl *client.Client, _ []string, w io.Writer) error {
		resp, err := cl.FetchAll(ctx, &models.FetchAllRequest{Type: models.TypeString(tc), TypeCode: tc})
		if err != nil {
			return err
		}
		rs := resp.GetResources()
		// Servers return rows in no particular order; people and diff want one.
		slices.SortFunc(rs, func(a, b *models.Resource) int { return strings.Compare(a.GetKey(), b.GetKey()) })
		return c.print(w, rs)
	}
}

func (c *command) get(ctx context.Context, cl *client.Client, _ []string, w io.Writer) error {
	resp, err := cl.Fetch(ctx, &models.FetchRequest{Key: c.key})
	if err != nil {
		return err
	}
	return c.print(w, []*models.Resource{resp.GetResource()})
}

func (c *command) claim(tc models.TypeCode) func(context.Context, *client.Client, []string, io.Writer) error {
	return func(ctx context.Context, cl *client.Client, _ []string, _ io.Writer) error {
		_, err := cl.Lock(ctx, &models.LockRequest{
			Resource: &models.Resource{
				Key: c.key, Owner: c.owner, Value: c.value,
				Type: models.TypeString(tc), TypeCode: tc,
			},
			TtlInSeconds: c.ttl,
		})
		return err
	}
}

func (c *command) release(ctx context.Context, cl *client.Client, _ []string, _ io.Writer) error {
	_, err := cl.Release(ctx, &models.ReleaseRequest{Resource: &models.Resource{Key: c.key, Owner: c.owner}})
	return err
}

func (c *command) print(w io.Writer, rs []*models.Resource) error {
	if !c.table {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(client.NewResourceJSON(r)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tOWNER\tTYPE\tVALUE")
	for _, r := range rs {
		typ := r.GetType()
		if typ == "" {
			typ = models.TypeString(r.GetTypeCode())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetKey(), r.GetOwner(), typ, r.GetValue())
	}
	return tw.Flush()
}

// describe turns an error from Locket into a message that says what failed.
func describe(cmd, addr string, timeout time.Duration, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: no answer from Locket at %s within %s: %w", cmd, addr, timeout, err)
	case codes.Unavailable:
		return fmt.Errorf("%s: cannot reach Locket at %s: %w", cmd, addr, err)
	case codes.AlreadyExists:
		return fmt.Errorf("%s: the lock is held by another owner: %w", cmd, err)
	case codes.NotFound:
		if st.Message() == "resource-not-found" {
			return fmt.Errorf("%s: no lock or presence with that key: %w", cmd, err)
		}
	}
	return fmt.Errorf("%s: %w", cmd, err)
}
