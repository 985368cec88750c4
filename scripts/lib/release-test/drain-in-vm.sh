#!/bin/bash
# Run by scripts/test-release inside `unshare --mount`: makes /var/vcap a
# private VM-like tree in which monit (as BOSH's, /var/vcap/bosh/bin/monit)
# runs the locket and lock-holder jobs through their ctl scripts, waits for
# the lock holder to hold `bbs`, runs its drain and checks that it printed 0,
# that the lock is gone at once, and that the lock holder is stopped and
# unmonitored.
#
# env: D (rendered jobs in $D/job, $D/lh-job; $D/hosts; client certs in $D),
#      PKGDIR (compiled packages), LISTEN (locket port), OWNER (spec.id).
set -uo pipefail

mount -t tmpfs tmpfs /var/vcap
mkdir -p /var/vcap/jobs /var/vcap/packages /var/vcap/sys/log /var/vcap/bosh/bin /var/vcap/bosh/etc /var/vcap/monit/job
cp -a "$D/job" /var/vcap/jobs/locket
cp -a "$D/lh-job" /var/vcap/jobs/lock-holder
ln -s "$PKGDIR/locket" /var/vcap/packages/locket
mount --bind "$D/hosts" /etc/hosts
cp /var/vcap/jobs/locket/monit /var/vcap/monit/job/locket.monitrc
cp /var/vcap/jobs/lock-holder/monit /var/vcap/monit/job/lock-holder.monitrc
cat >/var/vcap/bosh/etc/monitrc <<'RC'
set daemon 1
set pidfile /var/vcap/monit/monit.pid
set idfile /var/vcap/monit/monit.id
set statefile /var/vcap/monit/monit.state
set logfile /var/vcap/monit/monit.log
set httpd unixsocket /var/vcap/monit/monit.sock
  allow admin:admin
include /var/vcap/monit/job/*.monitrc
RC
chmod 600 /var/vcap/bosh/etc/monitrc
cat >/var/vcap/bosh/bin/monit <<'SH'
#!/bin/sh
exec /usr/bin/monit -c /var/vcap/bosh/etc/monitrc "$@"
SH
chmod +x /var/vcap/bosh/bin/monit
monit=/var/vcap/bosh/bin/monit

ctl() {
  /var/vcap/packages/locket/bin/locketctl --locketAPILocation "locket.service.cf.internal:$LISTEN" \
    --caCertFile "$D/ca.crt" --clientCertFile "$D/client.crt" --clientKeyFile "$D/client.key" "$@"
}
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(sed -e 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]
}

$monit
rc=1
for _ in $(seq 1 150); do
  ctl locks 2>/dev/null | grep -q "\"key\":\"bbs\",\"owner\":\"$OWNER\"" && { rc=0; break; }
  sleep 0.2
done
if [ $rc = 0 ]; then
  echo "bbs held by the lock holder ($OWNER)"
  pid=$(cat /var/vcap/sys/run/lock-holder/lock-holder.pid)
  out=$(/var/vcap/jobs/lock-holder/bin/drain)
  echo "drain printed '$out'"
  locks=$(ctl locks)
  echo "locks right after the drain: ${locks:-none}"
  [ "$out" = 0 ] || { echo "drain must print 0"; rc=1; }
  if grep -q '"key":"bbs"' <<<"$locks"; then echo "bbs is still locked"; rc=1; fi
  if alive "$pid"; then echo "lock holder $pid still running"; rc=1; fi
  $monit summary
  $monit summary | grep -Eq 'lock-holder +Not monitored' || { echo "lock-holder is still monitored"; rc=1; }
  echo "--- drain.log"
  cat /var/vcap/sys/log/lock-holder/drain.log
else
  echo "the lock holder never held bbs"
  tail -n 20 /var/vcap/sys/log/*/*.log /var/vcap/monit/monit.log
fi

$monit stop all
for _ in $(seq 1 100); do
  $monit summary 2>/dev/null | grep -Eq 'locket +Not monitored' && break
  sleep 0.2
done
$monit quit
exit $rc
