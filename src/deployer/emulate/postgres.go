package emulate

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// postgres emulates postgres-release's postgres job: the machine's Postgres
// with its own cluster on the VM's persistent disk, run as vcap, seeded
// in post-start.
func postgres(props map[string]any, dir string) error {
	bin, err := postgresBin()
	if err != nil {
		return err
	}
	port := str(props, "databases.port", "5432")
	var conf strings.Builder
	fmt.Fprintf(&conf, `listen_addresses = '*'
port = %s
unix_socket_directories = '/var/vcap/sys/run/postgres'
hba_file = '/var/vcap/jobs/postgres/config/pg_hba.conf'
max_connections = %s
shared_buffers = 32MB
logging_collector = off
`, port, str(props, "databases.max_connections", "500"))
	files := []file{}
	if cert := str(props, "databases.tls.certificate", ""); cert != "" {
		files = append(files,
			file{"config/certs/server.crt", 0o644, cert},
			file{"config/certs/server.key", 0o600, str(props, "databases.tls.private_key", "")},
			file{"config/certs/ca.crt", 0o644, str(props, "databases.tls.ca", cert)})
		conf.WriteString("ssl = on\nssl_cert_file = '/var/vcap/data/postgres/certs/server.crt'\nssl_key_file = '/var/vcap/data/postgres/certs/server.key'\nssl_ca_file = '/var/vcap/data/postgres/certs/ca.crt'\n")
	}

	var seed strings.Builder
	roles := list(props, "databases.roles")
	for _, r := range roles {
		name, pw := str(r, "name", ""), str(r, "password", "")
		if name == "" {
			return fmt.Errorf("postgres: a databases.roles entry has no name")
		}
		fmt.Fprintf(&seed, "SELECT 'CREATE ROLE %s' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)\\gexec\n", pgIdent(name), pgLit(name))
		fmt.Fprintf(&seed, "ALTER ROLE %s WITH LOGIN PASSWORD %s;\n", pgIdent(name), pgLit(pw))
	}
	for _, d := range list(props, "databases.databases") {
		name := str(d, "name", "")
		if name == "" {
			return fmt.Errorf("postgres: a databases.databases entry has no name")
		}
		fmt.Fprintf(&seed, "SELECT 'CREATE DATABASE %s' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = %s)\\gexec\n", pgIdent(name), pgLit(name))
		fmt.Fprintf(&seed, "\\c %s\n", pgIdent(name))
		for _, r := range roles {
			role := pgIdent(str(r, "name", ""))
			fmt.Fprintf(&seed, "GRANT ALL ON DATABASE %s TO %s;\nGRANT ALL ON SCHEMA public TO %s;\n", pgIdent(name), role, role)
		}
		seed.WriteString("\\c postgres\n")
	}

	files = append(files,
		file{"monit", 0o644, `check process postgres
  with pidfile /var/vcap/store/postgres/data/postmaster.pid
  start program "/var/vcap/jobs/postgres/bin/postgres_ctl start" with timeout 120 seconds
  stop program "/var/vcap/jobs/postgres/bin/postgres_ctl stop" with timeout 60 seconds
  group vcap
`},
		file{"config/postgresql.conf", 0o644, conf.String()},
		file{"config/pg_hba.conf", 0o644, "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n"},
		file{"config/seed.sql", 0o600, seed.String()},
		file{"bin/postgres_ctl", 0o755, fmt.Sprintf(`#!/bin/bash
# Emulated postgres job: the machine's Postgres with this VM's own cluster,
# run as vcap.
set -eu
bin=%s
job=/var/vcap/jobs/postgres
run=/var/vcap/sys/run/postgres
log=/var/vcap/sys/log/postgres
data=/var/vcap/store/postgres/data
case "${1:-}" in
start)
  mkdir -p "$run" "$log" "$data" /var/vcap/data/postgres/certs
  chown vcap:vcap "$run" "$log" "$data" /var/vcap/store/postgres
  chmod 0700 "$data"
  if [ -d "$job/config/certs" ]; then
    # Postgres, running as vcap, wants its key owned by vcap and private.
    install -o vcap -g vcap -m 0600 "$job"/config/certs/* /var/vcap/data/postgres/certs/
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    runuser -u vcap -- "$bin/initdb" -D "$data" -U vcap -E UTF8 --auth-local=trust >>"$log/initdb.log" 2>&1
  fi
  setsid setpriv --reuid=vcap --regid=vcap --init-groups "$bin/postgres" -D "$data" -c config_file="$job/config/postgresql.conf" >>"$log/postgres.stderr.log" 2>&1 </dev/null &
  ;;
stop)
  if [ -f "$data/postmaster.pid" ]; then
    pid=$(head -n1 "$data/postmaster.pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 1 ;;
esac
`, bin)},
		file{"bin/post-start", 0o755, fmt.Sprintf(`#!/bin/bash
# Waits for Postgres and seeds the manifest's roles and databases.
set -eu
for _ in $(seq 1 600); do
  psql -h /var/vcap/sys/run/postgres -p %s -U vcap -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
psql -h /var/vcap/sys/run/postgres -p %s -U vcap -d postgres -v ON_ERROR_STOP=1 -q -f /var/vcap/jobs/postgres/config/seed.sql
`, port, port)},
		file{"bin/sql", 0o755, fmt.Sprintf(`#!/bin/bash
# An operator's psql prompt on this node (superuser over the socket).
exec psql -h /var/vcap/sys/run/postgres -p %s -U vcap "$@"
`, port)})
	return write(dir, files)
}

// postgresBin is the bin directory of the newest Postgres installed.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(dirs) == 0 {
		return "", fmt.Errorf("postgres emulation needs Debian's postgresql package (no /usr/lib/postgresql/*/bin)")
	}
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	return dirs[len(dirs)-1], nil
}

func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func pgLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
