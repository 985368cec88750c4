package deployment_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locket-release/deployer/deployment"
	"github.com/locket-release/deployer/host"
	"github.com/locket-release/deployer/manifest"
	"github.com/locket-release/deployer/vm"
)

// TestUpUpdateDown deploys testdata/hello.yml (a MariaDB, greeters that
// provide a link, a caller that consumes it and dials them by link address,
// BOSH DNS name and alias), updates it (fewer greeters, a new greeting) and
// takes it down. It needs root, ruby, monit and MariaDB's packages.
func TestUpUpdateDown(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"ruby", "monit", "mariadbd", "ip", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	dp := &deployment.Deployer{Run: host.New(), Root: t.TempDir(), Out: &out,
		Bosh: filepath.Join(repo, "scripts", "bosh"), Renderer: filepath.Join(repo, "src", "bosh-template", "render.rb")}
	up := func(greeters, greeting string) {
		t.Helper()
		err := dp.Up(ctx, deployment.UpOptions{ReleaseDir: "testdata/release", Manifest: manifest.Invocation{
			Path: "testdata/hello.yml", Vars: []string{"greeters=" + greeters, "greeting=" + greeting}}})
		if err != nil {
			t.Fatalf("up: %v\n%s", err, out.String())
		}
	}
	t.Cleanup(func() {
		if err := dp.Down(context.Background(), "deployer-test", true); err != nil {
			t.Errorf("down: %v", err)
		}
	})

	up("3", "hi")
	d, err := dp.Open("deployer-test")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(d.Group("greeters")); got != 3 {
		t.Fatalf("greeters: %d instances, want 3", got)
	}
	caller, err := d.Find("callers/0")
	if err != nil {
		t.Fatal(err)
	}
	// Every greeter answers through each name the caller dials.
	lines := waitLog(t, d, caller, "caller", func(s string) bool {
		return strings.Count(s, ": hi from greeters/") >= 5
	})
	for _, g := range d.Group("greeters") {
		if !strings.Contains(lines, g.ID+".greeters.default.deployer-test.bosh: hi from greeters/"+g.ID) {
			t.Errorf("caller did not reach greeter %s by its BOSH DNS name:\n%s", g.ID, lines)
		}
	}
	if !strings.Contains(lines, "greeter.service.internal: hi from") {
		t.Errorf("caller did not reach the alias:\n%s", lines)
	}
	// pre-start ran with the instance's spec.
	pre, err := os.ReadFile(filepath.Join(d.LogDir(d.Group("greeters")[1]), "greeter", "pre-start.stdout.log"))
	if err != nil || !strings.Contains(string(pre), "pre-start of greeters/1 bootstrap=false az=z2") {
		t.Errorf("pre-start log: %q, %v", pre, err)
	}
	// The seeded user reaches MariaDB from another VM through the alias.
	res, err := d.VM(caller).Exec(ctx, vm.Cmd{Argv: []string{"sh", "-c",
		`MYSQL_PWD="$(cat)" mariadb -h sql-db.service.internal -u thinger things -N -e 'SELECT DATABASE()'`},
		Stdin: strings.NewReader(password(t, dp))})
	if err != nil || strings.TrimSpace(res.Stdout) != "things" {
		t.Errorf("seeded user over TCP: %q %v", res.Stdout, err)
	}
	// Nothing is addressed in the root network namespace.
	if b, _ := exec.Command("ip", "-o", "addr").Output(); strings.Contains(string(b), "10.244.") {
		t.Errorf("root namespace has a 10.244 address:\n%s", b)
	}

	before := d.Group("greeters")[0].ID
	up("2", "hello")
	d, _ = dp.Open("deployer-test")
	if got := len(d.Group("greeters")); got != 2 || d.Group("greeters")[0].ID != before {
		t.Fatalf("after update: %d greeters (want 2), first %s (want %s)", got, d.Group("greeters")[0].ID, before)
	}
	waitLog(t, d, caller, "caller", func(s string) bool { return strings.Contains(s, "greeter.service.internal: hello from") })
	if !strings.Contains(out.String(), "(canary)") {
		t.Errorf("no canary in the update:\n%s", out.String())
	}

	if err := dp.Down(ctx, "deployer-test", false); err != nil {
		t.Fatal(err)
	}
	if names, _ := d.Network().Namespaces(); len(names) != 0 {
		t.Errorf("namespaces left after down: %v", names)
	}
}

func waitLog(t *testing.T, d *deployment.Deployment, inst *deployment.Instance, job string, ok func(string) bool) string {
	t.Helper()
	path := filepath.Join(d.LogDir(inst), job, job+".stdout.log")
	var s string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		s = string(b)
		if ok(s) {
			return s
		}
	}
	t.Fatalf("%s: log never matched:\n%s", path, s)
	return ""
}

func password(t *testing.T, dp *deployment.Deployer) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dp.Root, "deployments", "deployer-test", "vars-store.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "thing_password: "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no thing_password in the vars store")
	return ""
}
