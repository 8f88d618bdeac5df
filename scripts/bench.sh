#!/usr/bin/env bash
# Benchmarks (numbers, not pass/fail): see scripts/bench.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/node scripts/bench.ts "$@"
