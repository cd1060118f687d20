#!/usr/bin/env bash
# Gateway overhead benchmark: starts the fake upstream and the gateway on
# loopback, pinned (gateway on core 1; upstream and load generator on core 0),
# and measures direct vs through-gateway in interleaved rounds.
# See bench/README.md. Usage: bench/run.sh   (options in the environment below)
set -euo pipefail

DURATION=${DURATION:-5s}               # length of each fixed-rate / ramp step
RATES=${RATES:-500,1000,2000}          # fixed rates (req/s)
ROUNDS=${ROUNDS:-7}                    # interleaved rounds (sequential, TTFB)
RATE_ROUNDS=${RATE_ROUNDS:-2}          # interleaved rounds per fixed rate
SEQ_N=${SEQ_N:-2000}                   # sequential requests per side per round
TTFB_N=${TTFB_N:-1000}                 # streams per side per round
RAMP_START=${RAMP_START:-3000}         # gateway ramp: first rate, step
RAMP_STEP=${RAMP_STEP:-500}
OVERLOAD_FACTOR=${OVERLOAD_FACTOR:-3}  # overload = factor × highest sustained rate
OVERLOAD_DURATION=${OVERLOAD_DURATION:-10s}
PHASES=${PHASES:-seq,ttfb,rates,ramp,gencheck,overload}
BUILD=${BUILD:-1}                      # 0: use the existing bin/switchboard (e.g. while the tree does not build)
MAX_WORKERS=${MAX_WORKERS:-8000}       # most outstanding requests (connections) in the overload run
RATE_WORKERS=${RATE_WORKERS:-1000}     # … in the fixed-rate, ramp and generator-check runs
# Also (bench/lib.sh): GW_CORE=1 GEN_CORE=0 TESTBED_GOGC=400 ACCESS_LOG=file|null QUIET_LOAD=1.5 QUIET_WAIT=300 GW_SET= GW_ENV=

cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh

wait_quiet
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
prepare
# shellcheck disable=SC2086 # GW_ENV is a list of NAME=value words
start_gateway bin/switchboard $GW_ENV

mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/$stamp.json
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
meta=$(jq -nc \
	--arg cmd "$0" --arg nproc "$(nproc --all)" --arg cpu "$cpu_model" --arg go "$(go version)" \
	--argjson calib "$calib_before" --arg kernel "$(uname -r)" --arg binary "$(bin/switchboard version)" --arg load "$load_start" --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg dirty "$(git status --porcelain 2>/dev/null | wc -l)" --arg fs "$(df -T "$tmp" | awk 'NR==2{print $2}')" \
	--arg access "$gw_log" --arg gw_aff "$(taskset -pc "$gw_pid" | sed 's/.*: //')" \
	--arg up_aff "$(taskset -pc "$up_pid" | sed 's/.*: //')" --arg gen_core "$GEN_CORE" \
	--arg env "DURATION=$DURATION RATES=$RATES ROUNDS=$ROUNDS RATE_ROUNDS=$RATE_ROUNDS SEQ_N=$SEQ_N TTFB_N=$TTFB_N RAMP_START=$RAMP_START RAMP_STEP=$RAMP_STEP OVERLOAD_FACTOR=$OVERLOAD_FACTOR OVERLOAD_DURATION=$OVERLOAD_DURATION PHASES=$PHASES ACCESS_LOG=$ACCESS_LOG MAX_WORKERS=$MAX_WORKERS RATE_WORKERS=$RATE_WORKERS TESTBED_GOGC=$TESTBED_GOGC GW_SET=$GW_SET GW_ENV=$GW_ENV" \
	'{command: $cmd, env: $env, nproc: ($nproc|tonumber), cpu_model: $cpu, go: $go, kernel: $kernel,
	  loadavg_before: $load, commit: $commit, binary: $binary, cpu_calibration_ms_before: $calib, dirty_files: ($dirty|tonumber), temp_fs: $fs,
	  access_log: $access, gateway_affinity: $gw_aff, upstream_affinity: $up_aff, loadgen_affinity: $gen_core,
	  recording: "sqlite (default store) in the temp dir", config: "bench/gateway.yaml"}')

GOGC=$TESTBED_GOGC timeout --signal=INT 20m taskset -c "$GEN_CORE" "$tmp/loadgen" \
	-direct "http://$up_addr" -gateway "http://$gw_addr" -gateway-pid "$gw_pid" -upstream-pid "$up_pid" \
	-rounds "$ROUNDS" -seq-n "$SEQ_N" -ttfb-n "$TTFB_N" -rates "$RATES" -rate-rounds "$RATE_ROUNDS" \
	-duration "$DURATION" -ramp-start "$RAMP_START" -ramp-step "$RAMP_STEP" \
	-overload-factor "$OVERLOAD_FACTOR" -overload-duration "$OVERLOAD_DURATION" \
	-max-workers "$MAX_WORKERS" -rate-workers "$RATE_WORKERS" -phases "$PHASES" -meta "$meta" -out "$out" | tee "${out%.json}.md"

# Graceful stop: the gateway flushes every inference record and exits 0.
kill -TERM "$gw_pid"
rc=0; wait "$gw_pid" || rc=$?
lines=$([ "$ACCESS_LOG" = file ] && grep -c '"msg":"request"' "$tmp/gateway.log" || echo n/a)
db=$(du -k "$tmp"/bench.db* 2>/dev/null | awk '{s+=$1} END{print s+0}')
calib_after=$(calibrate)
jq --argjson calib "$calib_after" --argjson rc "$rc" --arg lines "$lines" --argjson db "$db" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
	'.after = {gateway_exit_code: $rc, access_log_lines: $lines, sqlite_kib: $db, loadavg_after: $load, cpu_calibration_ms_after: $calib}' "$out" >"$tmp/out.json" &&
	cp "$tmp/out.json" "$out"
echo
echo "CPU calibration (ms, SHA-256 of 64 MiB, per core): before $calib_before, after $calib_after"
echo "gateway exit $rc after SIGTERM; access-log lines: $lines; SQLite files: ${db} KiB; load average now: $(cut -d' ' -f1-3 /proc/loadavg) (before: $load_start)"
echo "JSON: $root/$out"
