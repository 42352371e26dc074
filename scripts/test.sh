#!/usr/bin/env bash
# The test command the README gives and CI runs: set up, then the whole vitest suite (unit and
# e2e). The e2e suites start what they need themselves (see test/global-setup.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx vitest run "$@"
