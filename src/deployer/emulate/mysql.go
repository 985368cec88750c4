package emulate

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/locket-release/deployer/render"
)

// mysql emulates pxc-mysql: a single MariaDB node (no Galera) with its own
// data dir on the VM's persistent disk, seeded in post-start.
func mysql(props map[string]any, dir string) error {
	port := str(props, "port", "3306")
	var cnf strings.Builder
	fmt.Fprintf(&cnf, `[client]
socket = /var/vcap/sys/run/pxc-mysql/mysqld.sock

[mysqld]
datadir = /var/vcap/store/pxc-mysql
socket = /var/vcap/sys/run/pxc-mysql/mysqld.sock
pid-file = /var/vcap/sys/run/pxc-mysql/mysqld.pid
log-error = /var/vcap/sys/log/pxc-mysql/mysql.err.log
port = %s
bind-address = 0.0.0.0
skip-name-resolve
max_connections = 2000
innodb_buffer_pool_size = 64M
character-set-server = utf8mb4
`, port)
	files := []file{}
	if cert := str(props, "tls.server.certificate", ""); cert != "" {
		files = append(files,
			file{"config/certs/server.crt", 0o644, cert},
			file{"config/certs/server.key", 0o600, str(props, "tls.server.private_key", "")},
			file{"config/certs/ca.crt", 0o644, str(props, "tls.server.ca", cert)})
		// mysql_ctl copies them where mariadbd, running as vcap, may read the key.
		cnf.WriteString("ssl-cert = /var/vcap/data/pxc-mysql/certs/server.crt\nssl-key = /var/vcap/data/pxc-mysql/certs/server.key\nssl-ca = /var/vcap/data/pxc-mysql/certs/ca.crt\n")
		if str(props, "tls.required", "false") == "true" {
			cnf.WriteString("require_secure_transport = ON\n")
		}
	}

	var seed strings.Builder
	for _, db := range list(props, "seeded_databases") {
		name, user, pw := str(db, "name", ""), str(db, "username", ""), str(db, "password", "")
		if name == "" {
			return fmt.Errorf("pxc-mysql: a seeded_databases entry has no name")
		}
		fmt.Fprintf(&seed, "CREATE DATABASE IF NOT EXISTS %s;\n", ident(name))
		if user != "" {
			fmt.Fprintf(&seed, "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s;\nALTER USER %s@'%%' IDENTIFIED BY %s;\nGRANT ALL PRIVILEGES ON %s.* TO %s@'%%';\n",
				lit(user), lit(pw), lit(user), lit(pw), ident(name), lit(user))
		}
	}
	if users, ok := render.Lookup(props, "seeded_users"); ok {
		m, _ := users.(map[string]any)
		for _, user := range slices.Sorted(maps.Keys(m)) {
			u, _ := m[user].(map[string]any)
			pw := str(u, "password", "")
			fmt.Fprintf(&seed, "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s;\nALTER USER %s@'%%' IDENTIFIED BY %s;\n", lit(user), lit(pw), lit(user), lit(pw))
			if str(u, "role", "") == "admin" {
				fmt.Fprintf(&seed, "GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION;\n", lit(user))
			}
		}
	}
	seed.WriteString("FLUSH PRIVILEGES;\n")

	files = append(files,
		file{"monit", 0o644, `check process pxc-mysql
  with pidfile /var/vcap/sys/run/pxc-mysql/mysqld.pid
  start program "/var/vcap/jobs/pxc-mysql/bin/mysql_ctl start" with timeout 120 seconds
  stop program "/var/vcap/jobs/pxc-mysql/bin/mysql_ctl stop" with timeout 60 seconds
  group vcap
`},
		file{"config/my.cnf", 0o644, cnf.String()},
		file{"config/seed.sql", 0o600, seed.String()},
		file{"bin/mysql_ctl", 0o755, `#!/bin/bash
# Emulated pxc-mysql: the machine's MariaDB as one node with this VM's own
# data dir, socket and pid file.
set -eu
job=/var/vcap/jobs/pxc-mysql
run=/var/vcap/sys/run/pxc-mysql
log=/var/vcap/sys/log/pxc-mysql
data=/var/vcap/store/pxc-mysql
case "${1:-}" in
start)
  mkdir -p "$run" "$log" "$data" /var/vcap/data/pxc-mysql/certs
  chown vcap:vcap "$run" "$log" "$data"
  if [ -d "$job/config/certs" ]; then
    install -o vcap -g vcap -m 0600 "$job"/config/certs/* /var/vcap/data/pxc-mysql/certs/
  fi
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --defaults-file="$job/config/my.cnf" --user=vcap --skip-test-db >>"$log/install.log" 2>&1
  fi
  rm -f "$run/mysqld.pid"
  # mariadbd writes its pid file (monit's) once it runs as vcap.
  setsid /usr/sbin/mariadbd --defaults-file="$job/config/my.cnf" --user=vcap >>"$log/mysql.stdout.log" 2>&1 </dev/null &
  ;;
stop)
  if [ -f "$run/mysqld.pid" ]; then
    pid=$(cat "$run/mysqld.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$run/mysqld.pid"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 1 ;;
esac
`},
		file{"bin/post-start", 0o755, `#!/bin/bash
# Waits for MariaDB and seeds the manifest's databases and users.
set -eu
job=/var/vcap/jobs/pxc-mysql
for _ in $(seq 1 600); do
  mariadb --defaults-file="$job/config/my.cnf" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
mariadb --defaults-file="$job/config/my.cnf" -uroot <"$job/config/seed.sql"
`},
		file{"bin/sql", 0o755, `#!/bin/bash
# An operator's mysql prompt on this node (root over the socket).
exec mariadb --defaults-file=/var/vcap/jobs/pxc-mysql/config/my.cnf -uroot "$@"
`})
	return write(dir, files)
}

// ident quotes a MySQL identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// lit quotes a MySQL string literal.
func lit(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
