#!/usr/bin/env bash
# The whole test suite: system packages (idempotent), unit + reference tests (swift test),
# then the end-to-end CLI/TUI tests that drive the real binary. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
export LANG=C.UTF-8
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
for t in scripts/e2e/cli.sh scripts/e2e/store.sh scripts/e2e/explorer.sh; do
  [[ -e "$t" ]] || continue
  echo "== $t"
  "$t"
done
echo "all tests passed"
