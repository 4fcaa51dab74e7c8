#!/usr/bin/env bash
# Regenerates docs/screenshots/*.txt: text captures of each explorer view, taken by driving
# the real binary in tmux (160×48) on the bundled model and corpus.
#   scripts/screenshots.sh            (MODEL, CORPUS, BIN override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
# The release binary, brought up to date first (seconds when nothing changed); BIN=… is used as given.
[[ -n ${BIN:-} ]] || { BIN=.build/release/latentlens; swift build -c release --product latentlens >&2; }
MODEL=${MODEL:-Models/nvembed-mini}
CORPUS=${CORPUS:-SampleCorpora/sampler.jsonl}
OUT=docs/screenshots
SOCK=latentlens-shots-$$
export XDG_CONFIG_HOME=$(mktemp -d)   # the default look, whatever the user's own config says
export XDG_STATE_HOME=$XDG_CONFIG_HOME   # and the user's query history stays untouched
tm() { command tmux -L "$SOCK" "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$XDG_CONFIG_HOME"' EXIT
"$BIN" index --model "$MODEL" --corpus "$CORPUS" >/dev/null
tm -u new-session -d -s s -x 160 -y 48 -e LANG=C.UTF-8 -e TERM=tmux-256color "$BIN --model $MODEL --corpus $CORPUS --no-mouse; sleep 60"
wait_for() { for _ in $(seq 100); do tm capture-pane -t s -p | grep -qE "$1" && return 0; sleep 0.1; done; echo "timeout: $1" >&2; return 1; }
shot() { sleep 0.6; tm capture-pane -t s -p >"$OUT/$1.txt"; echo "wrote $OUT/$1.txt"; }
esc() { tm send-keys -t s Escape; sleep 0.3; }
wait_for "LatentLens"
shot 00-start
tm send-keys -t s "compress files" Enter
wait_for "overlap@10: latent"
shot 01-main-question
# view KEY NAME [REGEX]: back to the panes, press KEY, wait for REGEX, capture.
view() { esc; tm send-keys -t s "$1"; [[ -z ${3:-} ]] || wait_for "$3"; shot "$2"; }
view h 02-heatmap "tokens × top"
view t 03-token-weights
view d 04-document "j/k scroll"
view m 05-map "◆"
view c 06-causal-mask "mask causal"
tm send-keys -t s c
tm send-keys -t s ?
shot 07-help
esc
tm resize-window -t s -x 70 -y 24
shot 08-narrow-70x24
tm resize-window -t s -x 160 -y 48
esc   # from a pane, Esc goes to the query
tm send-keys -t s C-u "한국어 임베딩" Enter
wait_for "overlap@10"
shot 09-korean-query
tm send-keys -t s C-u "compress files" Enter
wait_for "▁compress"
esc
tm send-keys -t s / gzip
wait_for "/gzip: "
shot 10-find
tm send-keys -t s C-c
