#!/usr/bin/env bash
# Cache replay: a workload where REPEAT of the requests repeat an earlier one
# (temperature 0), through a gateway with the memory tier on, in front of the
# fake upstream. Reports hits, upstream calls and spend avoided, hit latency.
# Usage: bench/cache.sh   (N=5000 REPEAT=0.7 CLIENTS=16 LATENCY=20ms)
set -euo pipefail
N=${N:-5000}; REPEAT=${REPEAT:-0.7}; CLIENTS=${CLIENTS:-16}; LATENCY=${LATENCY:-20ms}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/switchboard-cache.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
make -s build
(cd bench/cachereplay && go build -o "$tmp/replay" .)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=127.0.0.1:$(free_port); gw=127.0.0.1:$(free_port)
bin/switchboard mock-upstream --listen "$up" --latency "$LATENCY" 2>"$tmp/up.log" & pids+=("$!")
cat >"$tmp/gw.yaml" <<YAML
server: {listen: "$gw"}
storage: {dsn: "$tmp/gw.db"}
log: {level: warn}
cache: {enabled: true, ttl: 1h, memory: {max_bytes: 64MiB}}
providers:
  upstream: {type: openai, base_url: "http://$up/v1"}
models:
  gpt-4o-mini: {routes: [{provider: upstream, model: gpt-4o-mini}]}
YAML
bin/switchboard serve --config "$tmp/gw.yaml" 2>"$tmp/gw.log" & pids+=("$!")
for _ in $(seq 100); do curl -fsS "http://$gw/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
"$tmp/replay" -url "http://$gw" -n "$N" -repeat "$REPEAT" -clients "$CLIENTS"
