#!/usr/bin/env bash
# Benchmarks (numbers, not pass/fail): start latency, network, exec, memory
# (scripts/bench.ts), then unpack throughput vs GNU tar and run-after-pull
# (scripts/bench-unpack.ts), save/load of busybox vs tar (scripts/bench-save-load.ts),
# rootless beside rootful (scripts/bench-rootless.ts) and the two user-mode networks
# (scripts/bench-rootless-net.ts),
# cp and commit vs GNU tar (scripts/bench-files.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/node scripts/bench.ts "$@"
node_modules/.bin/node scripts/bench-unpack.ts --run
node_modules/.bin/node scripts/bench-save-load.ts
node_modules/.bin/node scripts/bench-rootless.ts
node_modules/.bin/node scripts/bench-rootless-net.ts
node_modules/.bin/node scripts/bench-files.ts
