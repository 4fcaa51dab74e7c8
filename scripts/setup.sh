#!/usr/bin/env bash
# One-time (and idempotent) set-up: system packages, then a release build of latentlens.
# Afterwards: .build/release/latentlens (the explorer on the bundled model and corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product latentlens
echo "ready: .build/release/latentlens"
