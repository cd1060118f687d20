# Shared by bench/run.sh and bench/profile.sh (sourced, not run). Expects
# the caller to have set -euo pipefail and to be in the repository root.

GW_CORE=${GW_CORE:-1}                  # the gateway's core
GEN_CORE=${GEN_CORE:-0}                # the load generator's and the fake upstream's core
TESTBED_GOGC=${TESTBED_GOGC:-400}      # GOGC of the generator and the fake upstream (never the gateway)
ACCESS_LOG=${ACCESS_LOG:-file}         # file (in the temp dir) or null (/dev/null)
QUIET_LOAD=${QUIET_LOAD:-1.5}          # wait until the 1-min load average is below this…
QUIET_WAIT=${QUIET_WAIT:-300}          # …for at most this many seconds (0: do not wait)
GW_SET=${GW_SET:-}                     # extra gateway --set overrides, space-separated (what-if runs only)
GW_ENV=${GW_ENV:-}                     # extra gateway environment, NAME=value space-separated (what-if runs only)

die() { echo "bench: $*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v curl >/dev/null || die "curl is required"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 cores"
case $ACCESS_LOG in file|null) ;; *) die "ACCESS_LOG must be file or null";; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load1() { cut -d' ' -f1 /proc/loadavg; }

# wait_quiet waits (up to QUIET_WAIT s) for the load average to drop below QUIET_LOAD.
wait_quiet() {
	local waited=0
	[ "$QUIET_WAIT" -gt 0 ] || return 0
	while awk -v l="$(load1)" -v q="$QUIET_LOAD" 'BEGIN{exit !(l > q)}' && [ "$waited" -lt "$QUIET_WAIT" ]; do
		[ "$waited" -eq 0 ] && echo "waiting for a quiet machine (load $(load1) > $QUIET_LOAD, up to ${QUIET_WAIT}s)…" >&2
		sleep 10; waited=$((waited + 10))
	done
	if awk -v l="$(load1)" -v q="$QUIET_LOAD" 'BEGIN{exit !(l > q)}'; then
		echo "warning: load average still $(load1) > $QUIET_LOAD: numbers may be noisy" >&2
	fi
}

# build_loadgen builds the generator into $tmp/loadgen.
build_loadgen() {
	(cd bench/loadgen && CGO_ENABLED=0 go build -trimpath -o "$tmp/loadgen" .)
}

# addr_from_log LOG PATTERN PID waits for PATTERN in LOG and prints the address in it.
addr_from_log() {
	local log=$1 pattern=$2 pid=$3 a
	for _ in $(seq 200); do
		a=$(grep -m1 "$pattern" "$log" 2>/dev/null | grep -oE '127\.0\.0\.1:[0-9]+' | head -1 || true)
		[ -n "$a" ] && { echo "$a"; return; }
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "process $pid exited"; }
		sleep 0.05
	done
	cat "$log" >&2
	die "no address in $log"
}

# start_upstream: the fake upstream on GEN_CORE; sets up_pid, up_addr.
start_upstream() {
	GOGC=$TESTBED_GOGC taskset -c "$GEN_CORE" bin/switchboard mock-upstream --listen 127.0.0.1:0 2>"$tmp/upstream.log" &
	up_pid=$!; pids+=("$up_pid")
	up_addr=$(addr_from_log "$tmp/upstream.log" "mock upstream listening" "$up_pid")
}

# start_gateway BINARY [ENV=VALUE…]: the gateway on GW_CORE with
# bench/gateway.yaml, SQLite and the access log in $tmp; sets gw_pid,
# gw_addr, gw_log.
start_gateway() {
	local bin=$1; shift
	if [ "$ACCESS_LOG" = file ]; then gw_log=$tmp/gateway.log; else gw_log=/dev/null; fi
	gw_addr=127.0.0.1:$("$tmp/loadgen" -free-port)
	local sets=() kv
	for kv in $GW_SET; do sets+=(--set "$kv"); done
	env "$@" BENCH_LISTEN="$gw_addr" BENCH_UPSTREAM="$up_addr" BENCH_DB="$tmp/bench.db" \
		taskset -c "$GW_CORE" "$bin" serve --config bench/gateway.yaml "${sets[@]}" 2>"$gw_log" &
	gw_pid=$!; pids+=("$gw_pid")
	local i
	for i in $(seq 200); do
		curl -fsS "http://$gw_addr/readyz" >/dev/null 2>&1 && break
		kill -0 "$gw_pid" 2>/dev/null || die "the gateway exited (log: $gw_log)"
		[ "$i" -lt 200 ] || die "the gateway is not ready on $gw_addr"
		sleep 0.05
	done
	echo "upstream $up_addr (pid $up_pid, core $GEN_CORE), gateway $gw_addr (pid $gw_pid, core $GW_CORE), access log: $gw_log" >&2
}

# prepare builds (when BUILD=1) the gateway and the load generator, times
# the cores (calib_before) and starts the fake upstream.
prepare() {
	if [ "$BUILD" = 1 ]; then
		echo "building bin/switchboard and the load generator…" >&2
		make -s build >&2
	fi
	[ -x bin/switchboard ] || die "no bin/switchboard: run make build"
	build_loadgen
	calib_before=$(calibrate)
	start_upstream
}

# calibrate prints a JSON object: per core, three timings (ms) of a fixed
# CPU-bound workload. On a VM the host's contention is invisible to
# /proc/stat; these numbers moving between runs shows it.
calibrate() {
	local c i out="{"
	for c in "$GEN_CORE" "$GW_CORE"; do
		out+="\"core$c\":["
		for i in 1 2 3; do out+="$(taskset -c "$c" "$tmp/loadgen" -calibrate)"; [ $i -lt 3 ] && out+=","; done
		out+="],"
	done
	echo "${out%,}}"
}
