package deployment

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/locket-release/deployer/monit"
	"github.com/locket-release/deployer/vm"
)

// Down drains and stops every instance, then deletes the VMs, their
// namespaces and the deployment's state (force skips the stop). It also
// removes leftovers of a killed run when there is no state.
func (dp *Deployer) Down(ctx context.Context, name string, force bool) error {
	dir := dp.deploymentDir(name)
	if _, err := os.Stat(dir); err == nil {
		unlock, err := lockDir(dir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return dp.down(ctx, name, force)
}

func (dp *Deployer) down(ctx context.Context, name string, force bool) error {
	dir := dp.deploymentDir(name)
	d, err := dp.load(name)
	if err != nil {
		d = dp.deployment(name)
	}
	if !force && len(d.Instances) > 0 {
		dp.say("Stopping %d instances of %s", len(d.Instances), name)
		var wg sync.WaitGroup
		for _, inst := range d.Instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dp.stopVM(ctx, d, inst)
			}()
		}
		wg.Wait()
	}
	dp.say("Deleting VMs and namespaces of %s", name)
	if err := d.Network().DestroyAll(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	// The mount point stays only while some deployment needs it.
	_ = os.Remove("/var/vcap")
	dp.say("Deployment %s is down", name)
	return nil
}

// Status prints the instances, their jobs and each VM's monit summary.
func (dp *Deployer) Status(ctx context.Context, d *Deployment, w io.Writer) error {
	fmt.Fprintf(w, "Deployment %s, release %s/%s\n\n", d.Name, d.Release.Name, d.Release.Version)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Instance\tProcess State\tAZ\tIP\tJobs\tVersion")
	summaries := map[*Instance]string{}
	for _, inst := range d.Instances {
		v := d.VM(inst)
		state := "stopped (VM down)"
		if v.Running() {
			procs, err := monit.Client{VM: v}.Status(ctx)
			switch {
			case err != nil:
				state = "unresponsive agent"
			default:
				state = processState(procs)
			}
			summaries[inst], _ = monit.Client{VM: v}.Summary(ctx)
		}
		bootstrap := ""
		if inst.Bootstrap {
			bootstrap = "*"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", inst.Name(), bootstrap, state, inst.AZ, inst.IP, strings.Join(inst.Jobs, ","), inst.Version)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n(*) bootstrap\n")
	for _, inst := range d.Instances {
		if s := summaries[inst]; s != "" {
			fmt.Fprintf(w, "\n%s (%d) monit summary:\n", inst.Name(), inst.Index)
			for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n")[1:] {
				fmt.Fprintf(w, "  %s\n", line)
			}
		}
	}
	return nil
}

// processState condenses monit's view the way `bosh instances` does.
func processState(procs []monit.Process) string {
	if len(procs) == 0 {
		return "running (no processes)"
	}
	for _, p := range procs {
		if !p.Running() {
			return "failing"
		}
	}
	return "running"
}

// Exec runs a command inside an instance's VM.
func (d *Deployment) Exec(ctx context.Context, inst *Instance, c vm.Cmd) (int, error) {
	res, err := d.VM(inst).Exec(ctx, c)
	return res.ExitStatus, err
}

// LogDir is the host path of an instance's /var/vcap/sys/log.
func (d *Deployment) LogDir(inst *Instance) string {
	return filepath.Join(d.VM(inst).Vcap(), "sys", "log")
}

// LogFiles lists an instance's log files (of one job, or all).
func (d *Deployment) LogFiles(inst *Instance, job string) ([]string, error) {
	root := d.LogDir(inst)
	if job != "" {
		root = filepath.Join(root, job)
	}
	var files []string
	err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() && strings.HasSuffix(path, ".log") {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Database is where the deployment's database runs and how to reach it
// from inside that VM.
type Database struct {
	Instance *Instance
	Driver   string // mysql or postgres
	Name     string // the database the locket job uses
}

// Database finds the instance running the emulated database job and the
// database the locket job is configured with.
func (d *Deployment) Database() (*Database, error) {
	db := &Database{Name: "locket"}
	for _, inst := range d.Instances {
		for _, j := range inst.Jobs {
			switch j {
			case "pxc-mysql":
				db.Instance, db.Driver = inst, "mysql"
			case "postgres":
				db.Instance, db.Driver = inst, "postgres"
			}
		}
	}
	if db.Instance == nil {
		return nil, fmt.Errorf("deployment %s has no database instance (pxc-mysql or postgres job)", d.Name)
	}
	b, err := os.ReadFile(filepath.Join(d.Dir, "manifest.yml"))
	if err == nil {
		var m struct {
			InstanceGroups []struct {
				Jobs []struct {
					Properties struct {
						Diego struct {
							Locket struct {
								SQL struct {
									Schema string `yaml:"db_schema"`
								} `yaml:"sql"`
							} `yaml:"locket"`
						} `yaml:"diego"`
					} `yaml:"properties"`
				} `yaml:"jobs"`
			} `yaml:"instance_groups"`
		}
		if yaml.Unmarshal(b, &m) == nil {
			for _, g := range m.InstanceGroups {
				for _, j := range g.Jobs {
					if s := j.Properties.Diego.Locket.SQL.Schema; s != "" {
						db.Name = s
					}
				}
			}
		}
	}
	return db, nil
}

// SQLCommand is the argv, inside the database VM, of an operator's SQL
// client on the locket database: a table-printing query, or an interactive
// prompt when query is empty.
func (db *Database) SQLCommand(query string) []string {
	if db.Driver == "postgres" {
		argv := []string{"/var/vcap/jobs/postgres/bin/sql", "-d", db.Name}
		if query != "" {
			argv = append(argv, "-c", query)
		}
		return argv
	}
	argv := []string{"/var/vcap/jobs/pxc-mysql/bin/sql", "--database", db.Name}
	if query != "" {
		argv = append(argv, "--table", "-e", query)
	}
	return argv
}

// Query runs a query in the database VM and returns its rows as maps of
// column to text (NULL as "NULL").
func (d *Deployment) Query(ctx context.Context, query string) ([]map[string]string, error) {
	db, err := d.Database()
	if err != nil {
		return nil, err
	}
	var argv []string
	if db.Driver == "postgres" {
		argv = []string{"/var/vcap/jobs/postgres/bin/sql", "-d", db.Name, "-A", "-F", "\t", "-P", "footer=off", "-P", "null=NULL", "-c", query}
	} else {
		argv = []string{"/var/vcap/jobs/pxc-mysql/bin/sql", "--database", db.Name, "--batch", "--raw", "-e", query}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := d.VM(db.Instance).Exec(ctx, vm.Cmd{Argv: argv})
	if err != nil {
		return nil, fmt.Errorf("query in %s: %w", db.Instance.Short(), err)
	}
	lines := strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil, nil
	}
	cols := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for _, line := range lines[1:] {
		vals := strings.Split(line, "\t")
		row := map[string]string{}
		for k, c := range cols {
			if k < len(vals) {
				row[c] = vals[k]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
