#!/usr/bin/env bash
# The main job, end to end: a daemon (the system one if it runs, else one started
# here and stopped at the end), a container in every namespace serving a page on a
# published port, and that page fetched from the host.
set -euo pipefail
cd "$(dirname "$0")/.."
tdock=bin/tdock
port=${TDOCK_DEMO_PORT:-8080}
started=""
if ! $tdock version >/dev/null 2>&1; then
  echo "demo: starting tdockd (root /var/lib/tdock, socket /run/tdock/tdock.sock, bridge tdock0 10.89.0.0/16)"
  mkdir -p /run/tdock
  bin/tdockd >/run/tdock/demo-tdockd.log 2>&1 &
  started=$!
  for _ in $(seq 1 200); do $tdock version >/dev/null 2>&1 && break; sleep 0.05; done
  $tdock version >/dev/null || { cat /run/tdock/demo-tdockd.log; exit 1; }
fi
cleanup() {
  $tdock rm -f tdock-demo-web >/dev/null 2>&1 || true
  if [ -n "$started" ]; then kill "$started" 2>/dev/null; wait "$started" 2>/dev/null || true; fi
}
trap cleanup EXIT
$tdock rm -f tdock-demo-web >/dev/null 2>&1 || true

echo
echo "demo: a container is a process with its own pid 1, hostname, uid map and root filesystem:"
$tdock run --rm --hostname demo busybox sh -c '
  echo "  pid of this shell:  $$ (pid 1 is tdock init: $(cat /proc/1/comm))"
  echo "  hostname:           $(hostname)"
  echo "  uid inside:         $(id -u), mapped as: $(tr -s " " < /proc/self/uid_map)"
  echo "  network:            $(ip -o -4 addr show eth0 | awk "{print \$4}")"
  echo "  root filesystem:    $(ls / | tr "\n" " ")"'

echo
echo "demo: tdock run -d -p $port:80 --name tdock-demo-web busybox httpd ..."
$tdock run -d -p "$port:80" --name tdock-demo-web --hostname web busybox sh -c \
  'mkdir -p /www && echo "<h1>Hello from container $(hostname), served by tdock</h1>" > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
$tdock ps
echo
echo "demo: fetched from the host at http://127.0.0.1:$port/ :"
for _ in $(seq 1 50); do page=$(busybox wget -qO- "http://127.0.0.1:$port/" 2>/dev/null) && break; sleep 0.1; done
echo "  $page"
[ -n "${page:-}" ]
