package drill

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/locket-release/deployer/deployment"
)

// cliT is a T for `deploy drill`: it collects failures and stops a drill
// at the first fatal one.
type cliT struct {
	w       io.Writer
	narrate bool
	failed  bool
}

type fatal struct{}

func (t *cliT) Helper() {}

func (t *cliT) Logf(format string, args ...any) {
	if !t.narrate {
		fmt.Fprintf(t.w, "    %s\n", indent(fmt.Sprintf(format, args...)))
	}
}

func (t *cliT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Fprintf(t.w, "    FAIL: %s\n", indent(fmt.Sprintf(format, args...)))
}

func (t *cliT) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fatal{})
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

// RunCLI runs the drills named by number ("all" for every one) and prints
// go-test-like results; the exit code is 1 if any failed.
func RunCLI(ctx context.Context, dp *deployment.Deployer, d *deployment.Deployment, repo string, which []string, narrate bool, w io.Writer) (int, error) {
	var run []Drill
	for _, arg := range which {
		if arg == "all" {
			run = append(run, All...)
			continue
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > len(All) {
			return 2, fmt.Errorf("no drill %q (1-%d or all)", arg, len(All))
		}
		run = append(run, All[n-1])
	}
	passed, failed := 0, 0
	dp.Out = w
	for _, dr := range run {
		if ctx.Err() != nil {
			break
		}
		t := &cliT{w: w, narrate: narrate}
		var narration io.Writer
		if narrate {
			narration = w
			fmt.Fprintf(w, "\n==================== Drill %d: %s ====================\n", dr.N, dr.Title)
		} else {
			fmt.Fprintf(w, "=== RUN   Drill%d: %s\n", dr.N, dr.Title)
		}
		start := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(fatal); !ok {
						panic(r)
					}
				}
			}()
			// Each drill reads the deployment afresh (drill 6 redeploys it).
			if fresh, err := dp.Open(d.Name); err == nil {
				d = fresh
			}
			dr.Run(NewEnv(ctx, t, dp, d, repo, narration))
		}()
		result := "PASS"
		if t.failed {
			result = "FAIL"
			failed++
		} else {
			passed++
		}
		fmt.Fprintf(w, "--- %s: Drill%d (%.1fs)\n", result, dr.N, time.Since(start).Seconds())
	}
	fmt.Fprintf(w, "drills: %d passed, %d failed\n", passed, failed)
	if failed > 0 || ctx.Err() != nil {
		return 1, nil
	}
	return 0, nil
}
