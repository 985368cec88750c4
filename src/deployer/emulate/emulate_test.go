package emulate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMySQLSeedsEscapedAndPrivate(t *testing.T) {
	dir := t.TempDir()
	job, _ := Lookup("pxc", "pxc-mysql")
	props := map[string]any{"seeded_databases": []any{
		map[string]any{"name": "lo`cket", "username": "o'brien", "password": `p'w\d`},
	}}
	if err := job(props, dir); err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(dir, "config", "seed.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CREATE DATABASE IF NOT EXISTS `lo``cket`;", `IDENTIFIED BY 'p\'w\\d'`, `'o\'brien'@'%'`} {
		if !strings.Contains(string(seed), want) {
			t.Errorf("seed.sql lacks %s:\n%s", want, seed)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "config", "seed.sql")); fi.Mode().Perm() != 0o600 {
		t.Errorf("seed.sql mode %o, want 0600 (it holds passwords)", fi.Mode().Perm())
	}
	if monit, _ := os.ReadFile(filepath.Join(dir, "monit")); !strings.Contains(string(monit), "check process pxc-mysql") {
		t.Errorf("monit: %s", monit)
	}
	if err := job(map[string]any{"seeded_databases": []any{map[string]any{"username": "x"}}}, t.TempDir()); err == nil {
		t.Error("a seeded database without a name was accepted")
	}
}

func TestPostgresSeed(t *testing.T) {
	if _, err := postgresBin(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	job, _ := Lookup("postgres", "postgres")
	props := map[string]any{"databases": map[string]any{"port": 5524,
		"databases": []any{map[string]any{"name": "locket"}},
		"roles":     []any{map[string]any{"name": "locket", "password": "it's"}}}}
	if err := job(props, dir); err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(filepath.Join(dir, "config", "seed.sql"))
	for _, want := range []string{`ALTER ROLE "locket" WITH LOGIN PASSWORD 'it''s';`, `GRANT ALL ON SCHEMA public TO "locket";`} {
		if !strings.Contains(string(seed), want) {
			t.Errorf("seed.sql lacks %s:\n%s", want, seed)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "config", "postgresql.conf"))
	if !strings.Contains(string(conf), "port = 5524") {
		t.Errorf("postgresql.conf: %s", conf)
	}
}

func TestAliases(t *testing.T) {
	as, err := Aliases(map[string]any{"aliases": []any{map[string]any{"domain": "a.internal",
		"targets": []any{map[string]any{"query": "*", "instance_group": "g"}}}}})
	if err != nil || len(as) != 1 || as[0].Targets[0].InstanceGroup != "g" {
		t.Fatalf("%+v %v", as, err)
	}
	if _, err := Aliases(map[string]any{"aliases": "nope"}); err == nil {
		t.Error("a string alias list was accepted")
	}
}
