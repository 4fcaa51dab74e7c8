#!/usr/bin/env bash
# Python environments for the reference scripts. Not needed to build, run or test LatentLens:
# their outputs are committed.
#   scripts/setup-python.sh            .venv: goldens, numpy reference, fixtures (requirements.txt)
#   scripts/setup-python.sh --teacher  .venv-teacher: all-MiniLM-L6-v2 teacher (requirements-teacher.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
# A folder with a python but no pip is what a failed `python3 -m venv` leaves (Debian without
# python3-venv): start it again rather than fail later at pip.
make_venv() {
  [[ -x $1/bin/pip ]] && return
  rm -rf "$1"
  python3 -m venv "$1" || {
    rm -rf "$1"
    echo "error: python3 -m venv failed; on Debian it needs python3-venv (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
}
if [[ "${1:-}" == "--teacher" ]]; then
  make_venv .venv-teacher
  .venv-teacher/bin/pip install -q -r scripts/requirements-teacher.txt
  echo "teacher env ready: .venv-teacher/bin/python"
else
  make_venv .venv
  .venv/bin/pip install -q -r scripts/requirements.txt
  echo "python env ready: .venv/bin/python"
fi
