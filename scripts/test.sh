#!/usr/bin/env bash
# The test command the README gives and CI runs: set up (packages, build, cached API server), run
# the whole vitest suite (unit, CLI, real kernel, real API server — the e2e suites start what they
# need, see test/global-setup.ts), then gate the demo policies with `netpol check`, as a user's CI
# would. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p .cache
status=0
# The build typechecks src/; this also typechecks the tests and benches (vitest runs them untyped).
echo "typecheck of src, test and bench (tsconfig.test.json):"
npx tsc -p tsconfig.test.json || status=1
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@" || status=$?
if [ -f .cache/vitest.json ]; then
  node -e 'const r=require("./.cache/vitest.json"); console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))'
fi
if [ $# -eq 0 ]; then
  echo "netpol check on the committed demo policies:"
  node dist/cli/main.js check --policies policies --flows fixtures/demo/flows.jsonl --cluster fixtures/demo/cluster.yaml || status=1
fi
exit $status
