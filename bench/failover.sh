#!/usr/bin/env bash
# Failover under load: two mock upstreams behind one model, 50 concurrent
# clients, one upstream SIGKILLed mid-run. Reports client errors, the
# throughput dip, the recovery time and the circuit-breaker transitions.
# Usage: bench/failover.sh   (CLIENTS=50 DURATION=12s KILL_AT=4s COOLDOWN=2s)
set -euo pipefail
CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-12s}
KILL_AT=${KILL_AT:-4s}
COOLDOWN=${COOLDOWN:-2s}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/switchboard-failover.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
make -s build
(cd bench/failover && go build -o "$tmp/failover" .)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
a=127.0.0.1:$(free_port); b=127.0.0.1:$(free_port); gw=127.0.0.1:$(free_port)
bin/switchboard mock-upstream --listen "$a" --latency 2ms 2>"$tmp/a.log" & pa=$!; pids+=("$pa")
bin/switchboard mock-upstream --listen "$b" --latency 2ms 2>"$tmp/b.log" & pids+=("$!")
cat >"$tmp/gw.yaml" <<YAML
server: {listen: "$gw"}
storage: {dsn: "$tmp/gw.db"}
log: {level: warn}
providers:
  a: {type: openai, base_url: "http://$a/v1", breaker: {failures: 5, cooldown: $COOLDOWN}, timeouts: {connect: 1s}}
  b: {type: openai, base_url: "http://$b/v1", breaker: {failures: 5, cooldown: $COOLDOWN}, timeouts: {connect: 1s}}
models:
  duo:
    strategy: weighted
    routes: [{provider: a, model: gpt-4o-mini}, {provider: b, model: gpt-4o-mini}]
YAML
bin/switchboard serve --config "$tmp/gw.yaml" 2>"$tmp/gw.log" & pids+=("$!")
for _ in $(seq 100); do curl -fsS "http://$gw/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
"$tmp/failover" -url "http://$gw/v1/chat/completions" -clients "$CLIENTS" -duration "$DURATION" -kill-at "$KILL_AT" -kill-pid "$pa"
echo "circuit breaker transitions (provider a):"
grep 'circuit breaker state changed' "$tmp/gw.log" | grep 'provider=a' | sed 's/^time=\([^ ]*\).*from=\([a-z_]*\) to=\([a-z_]*\).*/  \1 \2 -> \3/' | head -12
