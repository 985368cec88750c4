# shellcheck shell=bash
# Installs and starts what the tests need on a Debian machine, when it is
# missing. Sourced by scripts/test and scripts/demo; needs root.

log() { printf '==> %s\n' "$*" >&2; }

apt_updated=
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  # Without systemd the packages' postinst may fail to start a service; we
  # start the services ourselves below, so a policy-rc.d keeps apt quiet.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

mariadb_ok() { mariadb -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }

ensure_mariadb() {
  apt_install mariadb-server mariadb-client
  if ! mariadb_ok; then
    if ! mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
      log "starting MariaDB"
      install -d -o mysql -g mysql /run/mysqld
      setsid /usr/sbin/mariadbd --user=mysql >/var/log/mariadb-test.log 2>&1 < /dev/null &
      for _ in $(seq 1 60); do mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
    fi
    # Debian's root@localhost authenticates by unix socket; the tests connect
    # over TCP as root without a password, as on the CI machines.
    mariadb -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
      ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
      FLUSH PRIVILEGES;" || true
  fi
  mariadb_ok || { log "MariaDB is not reachable on 127.0.0.1:3306 as root"; return 1; }
}

postgres_ok() { psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; }

ensure_postgres() {
  apt_install postgresql postgresql-client
  postgres_ok && return 0
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  local hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "allowing trusted local TCP connections to Postgres (test machine only)"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting Postgres $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
  for _ in $(seq 1 60); do postgres_ok && break; sleep 1; done
  postgres_ok || { log "Postgres is not reachable on 127.0.0.1:5432 as postgres"; return 1; }
}
