#!/usr/bin/env bash
# The floor: what the extra hop costs on this host before any gateway logic.
# Measures, interleaved and in rotating order, three stand-ins in the
# gateway's place (pinned to its core): a TCP byte relay, a minimal net/http
# proxy, and Switchboard itself (bench/gateway.yaml, recording and access log
# on), each against the fake upstream directly. Per target: sequential
# overhead p50/p99 and CPU per request at 1,000 req/s. See bench/README.md.
# Usage: bench/floor.sh   (REPEAT=3 ROUNDS=7 RATE=1000 DURATION=5s BUILD=1)
set -euo pipefail

REPEAT=${REPEAT:-3}      # passes over the three targets (the order rotates)
ROUNDS=${ROUNDS:-7}      # interleaved sequential rounds per target per pass
RATE=${RATE:-1000}       # the fixed rate whose gateway runs give CPU per request
DURATION=${DURATION:-5s}
BUILD=${BUILD:-1}

cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh

wait_quiet
prepare
start_gateway bin/switchboard

declare -A addr pid
addr[switchboard]=$gw_addr pid[switchboard]=$gw_pid
for mode in tcp http; do
	taskset -c "$GW_CORE" "$tmp/loadgen" -relay "$mode" -relay-upstream "$up_addr" 2>"$tmp/relay-$mode.log" &
	pid[$mode]=$!; pids+=("${pid[$mode]}")
	addr[$mode]=$(addr_from_log "$tmp/relay-$mode.log" "relay $mode listening" "${pid[$mode]}")
done

mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/$stamp-floor.json
targets=(tcp http switchboard)
echo '[]' >"$out"
for pass in $(seq "$REPEAT"); do
	for i in 0 1 2; do
		t=${targets[$(((i + pass - 1) % 3))]}
		model=mock-lorem extra=(-any-proxy)
		[ "$t" = switchboard ] && model=bench extra=()
		echo "pass $pass: $t" >&2
		GOGC=$TESTBED_GOGC taskset -c "$GEN_CORE" "$tmp/loadgen" -direct "http://$up_addr" -gateway "http://${addr[$t]}" \
			-gateway-pid "${pid[$t]}" -upstream-pid "$up_pid" -gateway-model "$model" "${extra[@]}" \
			-phases seq,rates -rounds "$ROUNDS" -rates "$RATE" -rate-rounds 1 -cpu-rate "$RATE" -duration "$DURATION" \
			-out "$tmp/run.json" >/dev/null
		jq --arg t "$t" --argjson pass "$pass" --slurpfile r "$tmp/run.json" \
			'. + [{target: $t, pass: $pass, seq_p50_us: $r[0].sequential.median_overhead_p50_us,
			       seq_p99_us: $r[0].sequential.median_overhead_p99_us,
			       direct_p50_us: $r[0].sequential.pooled_direct.p50_us,
			       cpu_per_request_us: ($r[0].rate_summary[0].gateway_cpu_per_request_us),
			       rate_overhead_p50_us: ($r[0].rate_summary[0].overhead_p50_us)}]' "$out" >"$tmp/acc.json"
		cp "$tmp/acc.json" "$out"
	done
done
calib_after=$(calibrate)

echo
echo "| stand-in on core $GW_CORE | sequential overhead p50 | p99 | CPU per request at $RATE req/s |"
echo "| --- | ---: | ---: | ---: |"
for t in "${targets[@]}"; do
	jq -r --arg t "$t" '
		def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
		def r: if . == null then "–" else (. | round | tostring) end;
		[.[] | select(.target == $t)] as $x |
		"| \($t) | \([$x[].seq_p50_us] | med | r) µs (\([$x[].seq_p50_us | round] | map(tostring) | join(", "))) | \([$x[].seq_p99_us] | med | r) µs | \([$x[].cpu_per_request_us] | med | r) µs (\([$x[].cpu_per_request_us | round] | map(tostring) | join(", "))) |"' "$out"
done
echo
echo "Medians over $REPEAT passes (each pass's value in brackets). Direct p50: $(jq -r '[.[].direct_p50_us | round] | sort | "\(.[0])–\(.[-1])"' "$out") µs."
echo "CPU calibration (ms, SHA-256 of 64 MiB, per core): before $calib_before, after $calib_after"
echo "JSON: $root/$out"
