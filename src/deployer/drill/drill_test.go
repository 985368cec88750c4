package drill

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/locket-release/deployer/deployment"
	"github.com/locket-release/deployer/host"
)

// The drills run against a deployment that is already up (scripts/drills
// brings manifests/locket.yml up first): DRILL_DEPLOYMENT names it
// (default locket), DEPLOYER_ROOT is the deployer's state directory
// (default .cache/deployer of the repository). Without one they skip,
// unless DRILLS_REQUIRED=1 (scripts/drills --ci), where that is a failure.

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func run(t *testing.T, n int) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	root := os.Getenv("DEPLOYER_ROOT")
	if root == "" {
		root = filepath.Join(repo, ".cache", "deployer")
	}
	name := os.Getenv("DRILL_DEPLOYMENT")
	if name == "" {
		name = "locket"
	}
	dp := &deployment.Deployer{Run: host.New(), Root: root, Out: logWriter{t},
		Bosh: filepath.Join(repo, "scripts", "bosh"), Renderer: filepath.Join(repo, "src", "bosh-template", "render.rb")}
	d, err := dp.Open(name)
	if err != nil {
		if os.Getenv("DRILLS_REQUIRED") == "1" {
			t.Fatalf("no deployment to drill: %v", err)
		}
		t.Skipf("no deployment to drill (scripts/drills brings one up): %v", err)
	}
	All[n-1].Run(NewEnv(context.Background(), t, dp, d, repo, nil))
}

func TestDrill1LockHeld(t *testing.T)      { run(t, 1) }
func TestDrill2RestartHolder(t *testing.T) { run(t, 2) }
func TestDrill3Presence(t *testing.T)      { run(t, 3) }
func TestDrill4StopServer(t *testing.T)    { run(t, 4) }
func TestDrill5Kill(t *testing.T)          { run(t, 5) }
func TestDrill6Upgrade(t *testing.T)       { run(t, 6) }
