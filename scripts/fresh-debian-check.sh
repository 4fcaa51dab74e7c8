#!/usr/bin/env bash
# The README's two commands on a bare Debian 12, from a clean clone of this repository: a
# debootstrap (minbase) chroot with only Swift's own Debian 12 prerequisites (swift.org's
# tarball instructions) and the Swift toolchain bind-mounted from /opt/swift. Catches an install
# step missing from scripts/install-deps.sh that this machine happens to have already.
# Needs root, debootstrap and network access to Debian's mirror; ~10 minutes. Not part of CI.
#   scripts/fresh-debian-check.sh [--retrain-prep] [DIR]   (DIR: the chroot; default /tmp/latentlens-bare)
# --retrain-prep: then the first steps of scripts/train-default-model.sh as well: the teacher's
# Python environment, the training data from Debian's archive and the teacher's piece
# embeddings (~2 more minutes; not the hour of mining and the hours of training after them).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PREP=0
[[ ${1:-} == --retrain-prep ]] && { PREP=1; shift; }
ROOT=${1:-/tmp/latentlens-bare}
[[ $(id -u) == 0 ]] || { echo "error: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "error: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
[[ -x /opt/swift/usr/bin/swift ]] || { echo "error: needs the Swift toolchain at /opt/swift" >&2; exit 1; }
[[ -e $ROOT ]] && { echo "error: $ROOT exists; remove it or name another folder" >&2; exit 1; }

mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mkdir -p "$ROOT$1"; mount --bind "$1" "$ROOT$1"; mounts+=("$ROOT$1"); }

echo "== debootstrap bookworm (minbase) into $ROOT"
debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian >"$ROOT.debootstrap.log" 2>&1
cp /etc/resolv.conf "$ROOT/etc/"
mount -t proc proc "$ROOT/proc"; mounts+=("$ROOT/proc")
bind /dev; bind /dev/pts
bind /opt/swift
# Where this workplace serves github.com packages from a local mirror, git is told so in
# /etc/gitconfig: carry both, so that SwiftPM resolves swift-argument-parser as it does here.
if [[ -d /opt/swift-packages && -f /etc/gitconfig ]]; then
  bind /opt/swift-packages; cp /etc/gitconfig "$ROOT/etc/gitconfig"
fi
# Likewise pip: a local wheel folder (find-links, torch's CPU wheel) and a TLS proxy's CA bundle.
if ((PREP)); then
  [[ -d /opt/wheels ]] && bind /opt/wheels
  for f in /etc/pip.conf /root/.config/pip/pip.conf; do
    [[ -f $f ]] && { mkdir -p "$ROOT$(dirname "$f")"; cp "$f" "$ROOT$f"; }
  done
fi

echo "== Swift's own Debian 12 prerequisites (swift.org, tarball install)"
chroot "$ROOT" /bin/bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends binutils-gold gcc git libcurl4-openssl-dev libedit-dev libicu-dev \
  libncurses-dev libpython3-dev libsqlite3-dev libxml2-dev pkg-config tzdata uuid-dev \
  ca-certificates >/dev/null'

echo "== clean clone"
git clone -q "$REPO" "$ROOT/root/latentlens"

run() { chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=xterm-256color LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  ${PIP_FIND_LINKS:+PIP_FIND_LINKS=$PIP_FIND_LINKS} /bin/bash -c "cd /root/latentlens && $1"; }

echo "== README, first command (the explorer runs in tmux; a query is typed and the screen read)"
run 'scripts/setup.sh'
run 'tmux new-session -d -s fresh -x 120 -y 32 .build/release/latentlens'
for _ in $(seq 1 180); do
  run 'tmux capture-pane -t fresh -p' | grep -q 'Type a query' && break
  sleep 1
done
run 'tmux send-keys -t fresh "compress files" Enter'
hits=0
for _ in $(seq 1 300); do   # the bundled corpus is embedded on first start (a progress bar)
  screen=$(run 'tmux capture-pane -t fresh -p')
  grep -q 'LATENT latent attention *10 hits' <<<"$screen" && { hits=1; break; }
  sleep 1
done
printf '%s\n' "$screen"
run 'tmux send-keys -t fresh C-c'; sleep 1
run 'tmux kill-server' 2>/dev/null || true
((hits)) || { echo "FAIL: the explorer showed no hits" >&2; exit 1; }

echo "== README, second command"
run 'scripts/test.sh'
echo "fresh Debian 12: both README commands passed"
((PREP)) || exit 0

echo "== scripts/train-default-model.sh, steps 2-3 up to the teacher's mining"
# (after ca-certificates, which the Swift prerequisites pulled in, has written its bundle)
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
run 'python3 scripts/build_data.py >/dev/null && scripts/setup-python.sh --teacher && .venv-teacher/bin/python scripts/teacher.py pieces'
echo "fresh Debian 12: training data, teacher environment and piece embeddings built"
