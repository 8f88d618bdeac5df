#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root): system packages,
# the tdock user and its subordinate ids, Node 24 and the npm dependencies, the build.
# Fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ]; then
  # package:file-it-provides
  want=(iproute2:/usr/sbin/ip nftables:/usr/sbin/nft uidmap:/usr/bin/newuidmap busybox-static:/bin/busybox
        gcc:/usr/bin/cc make:/usr/bin/make libc6-dev:/usr/include/stdio.h tmux:/usr/bin/tmux
        iptables:/usr/sbin/iptables util-linux:/usr/bin/unshare
        docker-registry:/usr/bin/docker-registry openssl:/usr/bin/openssl python3:/usr/bin/python3
        skopeo:/usr/bin/skopeo passt:/usr/bin/pasta slirp4netns:/usr/bin/slirp4netns)
  missing=()
  for w in "${want[@]}"; do
    pkg=${w%%:*}; file=${w#*:}
    if [ "$pkg" = busybox-static ]; then
      dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    elif [ ! -e "$file" ]; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi

  # Rootless daemons (slirp4netns) open /dev/net/tun as their user. Debian and most
  # distributions ship it 0666; some machines have it 0600.
  if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    say "making /dev/net/tun 0666 (was $(stat -c %a /dev/net/tun)) for rootless tdockd, as distributions ship it"
    chmod 0666 /dev/net/tun
  fi

  # The user whose subordinate ids container root is mapped onto.
  if ! getent passwd tdock >/dev/null; then
    say "creating the system user tdock"
    useradd --system --no-create-home --shell /usr/sbin/nologin tdock
  fi
  for f in /etc/subuid /etc/subgid; do
    touch "$f"
    if ! grep -q '^tdock:' "$f"; then
      # Start above every range already handed out, at 100000 at the least.
      start=$(awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' "$f")
      say "adding tdock:$start:65536 to $f"
      echo "tdock:$start:65536" >> "$f"
    fi
  done
fi

# Node 24 comes from the npm registry (package "node") as a dependency; the system's
# npm installs it. Reinstall only when package-lock.json changed.
if [ ! -x node_modules/.bin/node ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (incl. Node 24)"
  # Nothing here compiles (better-sqlite3 ships N-API prebuilds); never download headers.
  export npm_config_nodedir=${npm_config_nodedir:-/usr}
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
ver=$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')
[ "$ver" -ge 22 ] || { say "node_modules/.bin/node is Node $ver; tdock needs Node 24"; exit 1; }

# Build when a source is newer than the bundles or the shim.
stamp=dist/tdockd.js
if [ ! -f "$stamp" ] || [ ! -f dist/tdock.js ] || [ ! -x shim/tdock-shim ] || [ node_modules/.package-lock.json -nt "$stamp" ] || \
   [ -n "$(find cli daemon images lib proto shim scripts/build.mjs scripts/proto-types.ts package.json -newer "$stamp" -type f \( -name '*.ts' -o -name '*.c' -o -name '*.h' -o -name '*.proto' -o -name Makefile -o -name '*.mjs' -o -name '*.json' \) -print -quit 2>/dev/null)" ]; then
  say "building"
  node_modules/.bin/node scripts/build.mjs
fi

# `tdock` and `tdockd` on PATH (the systemd unit runs /usr/local/bin/tdockd); only
# links that are missing or point at another checkout are (re)made.
if [ "$(id -u)" = 0 ]; then
  for b in tdock tdockd; do
    target=$(pwd)/bin/$b
    [ "$(readlink /usr/local/bin/$b 2>/dev/null)" = "$target" ] || ln -sfn "$target" /usr/local/bin/$b
  done
fi
