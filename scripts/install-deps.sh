#!/usr/bin/env bash
# Installs the Debian 12 packages LatentLens builds and tests against. Idempotent: when
# everything is present it only checks and returns (no apt-get update, no network).
set -euo pipefail
# g++ brings the C++ standard library headers the SentencePiece shim (Sources/CSentencePiece,
# C++) compiles against: Swift's own Debian 12 prerequisites name gcc only, and a machine with
# just those fails at `#include <cstring>` (seen in a bare debootstrap, 2026-12-06). procps
# brings pkill, which the explorer's SIGTERM test sends the signal with. python3-venv: Debian's
# python3 cannot make the virtual environments of scripts/setup-python.sh without it (the
# teacher, for scripts/train-default-model.sh; the goldens' tools).
PKGS=(g++ procps libopenblas-dev libdnnl-dev libsentencepiece-dev sentencepiece libncurses-dev libsqlite3-dev sqlite3 tmux pkg-config libtcmalloc-minimal4 python3-numpy python3-venv)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
  if [[ -x /opt/swift/usr/bin/swift ]]; then
    echo "note: swift is at /opt/swift/usr/bin; add it to PATH" >&2
  else
    echo "error: Swift 6 is required and not found. Install it from https://www.swift.org/install/linux/ (Debian 12 tarball) and put it on PATH." >&2
    exit 1
  fi
fi
