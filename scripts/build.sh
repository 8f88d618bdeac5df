#!/usr/bin/env bash
# Builds the bundles (dist/) and the shim with the project's Node 24.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/node scripts/build.mjs
