// Command bench measures our Locket server against upstream Locket v1.5.0 on
// the same machine and databases, driven by upstream's Go client; scripts/bench
// builds both servers and runs it.
//
//	bench -ours BIN -upstream BIN [-quick] [-drivers mysql,postgres] [-out FILE]
//
// It prints progress on stderr and a Markdown report on stdout (and to -out).
// It exits 1 when a workload broke (an error, not a slow figure).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/locket-release/locket/interop/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "holder" {
		if err := bench.RunHolder(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "holder:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opts      bench.Options
		drivers   = flag.String("drivers", "mysql,postgres", "databases of the per-driver workloads")
		workloads = flag.String("workloads", "", "comma-separated subset of "+strings.Join(bench.Workloads, ","))
		out       = flag.String("out", "", "also write the Markdown report to this file")
		command   = flag.String("command", "", "the command line to print in the report (default: this program's)")
	)
	flag.StringVar(&opts.OursBin, "ours", "", "our server binary (go build ./cmd/locket in src/locket)")
	flag.StringVar(&opts.UpstreamBin, "upstream", "", "upstream server binary (code.cloudfoundry.org/locket/cmd/locket v1.5.0)")
	flag.BoolVar(&opts.Quick, "quick", false, "run each workload briefly (a smoke test of the benchmark)")
	flag.StringVar(&opts.FleetDriver, "fleet-driver", "mysql", "database of the fleet and handoff workloads")
	flag.IntVar(&opts.Rounds, "rounds", 3, "alternating rounds of the repeated workloads")
	flag.DurationVar(&opts.Window, "window", 3*time.Second, "measurement window of one round")
	flag.IntVar(&opts.DBConns, "db-conns", 64, "max_open_database_connections of both servers")
	flag.DurationVar(&opts.OurRetry, "our-runner-retry", 0, "retry interval of our client's runner in the handoffs (0: the client's default)")
	flag.StringVar(&opts.LogDir, "logs", "", "keep the tail of every server's log in this directory")
	flag.StringVar(&opts.ProfileDir, "profile", "", "take a CPU and an allocation profile of each server over every measurement window into this directory")
	flag.Parse()
	if opts.OursBin == "" || opts.UpstreamBin == "" {
		return fmt.Errorf("-ours and -upstream are required")
	}
	for _, d := range strings.Split(*drivers, ",") {
		if d = strings.TrimSpace(d); d != "" {
			opts.Drivers = append(opts.Drivers, d)
		}
	}
	if *workloads != "" {
		for _, w := range strings.Split(*workloads, ",") {
			w = strings.TrimSpace(w)
			known := false
			for _, k := range bench.Workloads {
				known = known || k == w
			}
			if !known {
				return fmt.Errorf("unknown workload %q (known: %s)", w, strings.Join(bench.Workloads, ","))
			}
			opts.Workloads = append(opts.Workloads, w)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program's path: %w", err)
	}
	opts.Self = self
	for _, dir := range []string{opts.LogDir, opts.ProfileDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
	}
	opts.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := bench.New(opts)
	if err != nil {
		return err
	}
	defer b.Close()
	if *command != "" {
		b.Report.Command = *command
	}
	b.Run(ctx)

	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	b.Report.Markdown(w)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted")
	}
	if n := len(b.Report.Failures); n > 0 {
		return fmt.Errorf("%d workload(s) broke", n)
	}
	return nil
}
