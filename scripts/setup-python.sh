#!/usr/bin/env bash
# Creates .venv with the Python packages the reference scripts need (scripts/requirements.txt).
# Only needed to regenerate goldens and fixtures; LatentLens itself needs no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
.venv/bin/pip install -q -r scripts/requirements.txt
echo "python env ready: .venv/bin/python"
