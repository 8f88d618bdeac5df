#!/usr/bin/env bash
# The main job, end to end: a daemon (the system one if it runs, else one started
# here and stopped at the end), and a container that shows it is one.
set -euo pipefail
cd "$(dirname "$0")/.."
tdock=bin/tdock
started=""
if ! $tdock version >/dev/null 2>&1; then
  echo "demo: starting tdockd (root /var/lib/tdock, socket /run/tdock/tdock.sock)"
  mkdir -p /run/tdock
  bin/tdockd >/run/tdock/demo-tdockd.log 2>&1 &
  started=$!
  for _ in $(seq 1 100); do $tdock version >/dev/null 2>&1 && break; sleep 0.05; done
fi
stop_daemon() { if [ -n "$started" ]; then kill "$started" 2>/dev/null; wait "$started" 2>/dev/null || true; fi; }
trap stop_daemon EXIT

echo "demo: tdock run --rm busybox ... (its own pid 1, hostname, uid map and root filesystem)"
$tdock run --rm --hostname demo busybox sh -c '
  echo "pid of this shell:  $$ (pid 1 is tdock init: $(cat /proc/1/comm))"
  echo "hostname:           $(hostname)"
  echo "uid inside:         $(id -u), mapped as: $(cat /proc/self/uid_map | tr -s " ")"
  echo "root filesystem:    $(ls / | tr "\n" " ")"
  echo "processes:"; ps -o pid,user,args'
echo "demo: host uid of that root: $(awk -F: '/^tdock:/{print $2}' /etc/subuid) (tdock's subordinate range)"
