#!/usr/bin/env bash
# Every test: type check, the shim's C parser tests, unit tests (no root),
# integration tests (root: real namespaces, cgroups, overlayfs). One node:test
# run, so CI reads one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
node=node_modules/.bin/node
echo "== typecheck"
node_modules/.bin/tsc -p tsconfig.json
# The shim's JSON/config parser, in C, under ASan/UBSan: one "FAIL ..." line
# and the offending document per failure; a failure ends the run here.
echo "== shim parser tests (C)"
make -s -C shim test
shopt -s nullglob
files=(test/unit/*.test.ts)
if [ "$(id -u)" = 0 ]; then
  files+=(test/integration/*.test.ts test/integration/breakout/*.test.ts)
else
  # The escape checks are never skipped: without root they fail, and so does the run.
  files+=(test/integration/breakout/*.test.ts)
  echo "(not root: integration tests skipped; the breakout tests will fail: they need root)"
fi
echo "== node --test (${#files[@]} files)"
exec "$node" --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
