#!/usr/bin/env bash
# Python environments for the reference scripts. Not needed to build, run or test LatentLens:
# their outputs are committed.
#   scripts/setup-python.sh            .venv: goldens, numpy reference, fixtures (requirements.txt)
#   scripts/setup-python.sh --teacher  .venv-teacher: all-MiniLM-L6-v2 teacher (requirements-teacher.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--teacher" ]]; then
  [[ -x .venv-teacher/bin/python ]] || python3 -m venv .venv-teacher
  .venv-teacher/bin/pip install -q -r scripts/requirements-teacher.txt
  echo "teacher env ready: .venv-teacher/bin/python"
else
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q -r scripts/requirements.txt
  echo "python env ready: .venv/bin/python"
fi
