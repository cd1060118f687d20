#!/usr/bin/env bash
# CPU profile of the gateway under the benchmark's load (see bench/README.md).
# Builds a copy of bin/switchboard with net/http/pprof added through
# `go build -overlay` (the repository's sources are not modified), starts it
# pinned like bench/run.sh, drives it and takes a CPU profile with pprof.
#   MODE=seq  bench/profile.sh        sequential requests (the per-request overhead)
#   MODE=rate RATE=1000 bench/profile.sh   open-loop at RATE req/s
#   MODE=overload bench/profile.sh   open-loop at RATE (default 20000) req/s with up to
#                                    8000 outstanding requests; adds a heap profile
set -euo pipefail

MODE=${MODE:-seq}             # seq, rate or overload
if [ "$MODE" = overload ]; then RATE=${RATE:-20000}; else RATE=${RATE:-1000}; fi
SECONDS_PROFILED=${SECONDS_PROFILED:-15}
NODES=${NODES:-35}            # lines of `pprof -top`
PERF=${PERF:-1}               # also `perf stat` + `perf record` the gateway for 10 s after the pprof profile (when perf works)

cd "$(dirname "$0")/.."
. bench/lib.sh
workers=1000
case $MODE in seq) phase=gwseq;; rate) phase=gwrate;; overload) phase=gwrate; workers=8000;; *) die "MODE must be seq, rate or overload";; esac

wait_quiet
echo "building the profiling gateway and the load generator…" >&2
build_loadgen
echo "{\"Replace\":{\"$PWD/cmd/switchboard/zz_bench_pprof.go\":\"$PWD/bench/profile/pprof.go.txt\"}}" >"$tmp/overlay.json"
# Not stripped (no -s -w), so that perf can name the gateway's functions; the code is the same.
CGO_ENABLED=0 go build -trimpath -overlay "$tmp/overlay.json" -o "$tmp/switchboard" ./cmd/switchboard
start_upstream
pprof_addr=127.0.0.1:$("$tmp/loadgen" -free-port)
start_gateway "$tmp/switchboard" SWITCHBOARD_BENCH_PPROF="$pprof_addr"

mkdir -p bench/results
prof=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-cpu-$MODE.pprof
perf_ok=0
if [ "$PERF" = 1 ] && command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then perf_ok=1; fi
extra=0; [ "$perf_ok" = 1 ] && extra=11
# Load for 3 s of warm-up + the profile (+ perf) + 2 s of margin.
GOGC=$TESTBED_GOGC taskset -c "$GEN_CORE" "$tmp/loadgen" -direct "http://$up_addr" -gateway "http://$gw_addr" \
	-gateway-pid "$gw_pid" -upstream-pid "$up_pid" -phases "$phase" -load-rate "$RATE" -rate-workers "$workers" -max-workers "$workers" \
	-duration "$((SECONDS_PROFILED + extra + 5))s" -out "$tmp/load.json" >/dev/null &
lg=$!; pids+=("$lg")
sleep 3
curl -fsS -o "$prof" "http://$pprof_addr/debug/pprof/profile?seconds=$SECONDS_PROFILED"
if [ "$MODE" = overload ]; then
	heap=${prof%.pprof}-heap.pprof
	curl -fsS -m 60 -o "$heap" "http://$pprof_addr/debug/pprof/heap?gc=1"
	goroutines=$(curl -fsS -m 60 -o "$tmp/goroutines.txt" "http://$pprof_addr/debug/pprof/goroutine?debug=1" && head -1 "$tmp/goroutines.txt" || true)
	rss=$(grep -E 'VmRSS|VmHWM' "/proc/$gw_pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')
	fds=$(ls "/proc/$gw_pid/fd" | wc -l)
	curl -fsS -m 60 "http://$pprof_addr/debug/pprof/heap?debug=1" 2>/dev/null |
		grep -E '^# (HeapAlloc|HeapSys|HeapInuse|HeapIdle|HeapReleased|Stack|Sys|NextGC|NumGC|MSpan|GCSys|OtherSys) ' >"$tmp/memstats.txt" || true
fi
if [ "$perf_ok" = 1 ]; then
	perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$gw_pid" -- sleep 10 2>"$tmp/perf-stat.txt" >/dev/null || true
	perf record -q -e cpu-clock -g -F 999 -o "$tmp/perf.data" -p "$gw_pid" -- sleep 10 >/dev/null 2>&1 || perf_ok=0
fi
wait "$lg"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); profile: $prof" >&2
go tool pprof -top -nodecount="$NODES" "$prof" 2>/dev/null
echo
go tool pprof -top -cum -nodecount="$NODES" "$prof" 2>/dev/null

# Where the gateway's time goes, by part of the request path (cumulative,
# overlapping: a write syscall made by the handler counts in both).
echo
echo "== pprof breakdown (cumulative share of the profile)"
part() { # name, focus regexp
	printf "  %-58s %s\n" "$1" "$(go tool pprof -top -focus="$2" "$prof" 2>/dev/null |
		sed -nE 's/.*accounting for ([^,]+), ([^ ]+) of ([^ ]+) total.*/\1 (\2)/p' | head -1)"
}
part "HTTP server: read + parse the request" 'net/http.\(\*conn\).readRequest'
part "handler, whole (observe middleware and below)" 'observe.func1'
part "  decode the chat request" 'switchboard.DecodeChatRequest'
part "  engine.Chat: routing + provider call" 'engine.\(\*Engine\).Chat'
part "  finish: metrics + record + access log" 'httpapi.\(\*Server\).finish'
part "    access log (slog JSON line + write)" 'slog.\(\*Logger\).LogAttrs'
part "    Prometheus metrics" 'prometheus'
part "HTTP client: send the upstream request (writeLoop)" 'persistConn\).writeLoop'
part "HTTP client: read the upstream response (readLoop)" 'persistConn\).readLoop'
part "recorder goroutine: SQLite inserts" 'recorder.\(\*Recorder\).run'
part "Go scheduler (schedule, findRunnable)" 'runtime.schedule'
part "network poller (epoll)" 'runtime.netpoll'
part "garbage collector" 'gcBgMarkWorker|bgsweep|gcAssist'
part "allocation (mallocgc)" 'runtime.mallocgc'
part "write(2), all callers" 'syscall.write'
part "read(2), all callers" 'syscall.read'

if [ "$perf_ok" = 1 ]; then
	echo
	echo "== perf stat (gateway, 10 s)"; grep -vE '^\s*$|Performance counter' "$tmp/perf-stat.txt"
	echo "== perf: gateway CPU samples by binary (kernel vs the Go program)"
	perf report -i "$tmp/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]'
	echo "== perf: top symbols (self); [k] kernel, [.] the gateway"
	perf report -i "$tmp/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -"$NODES" || true
	cp "$tmp/perf.data" "${prof%.pprof}.perf.data"
fi

if [ "$MODE" = overload ]; then
	echo
	echo "== overload memory: $rss; open fds: $fds; $goroutines"
	echo "== heap in use (after a forced GC), top"
	go tool pprof -top -sample_index=inuse_space -nodecount="$NODES" "$heap" 2>/dev/null | grep -vE '^(File|Build ID|Type|Time):'
	echo "== Go runtime memory (runtime.MemStats, under load)"
	cat "$tmp/memstats.txt"
fi
