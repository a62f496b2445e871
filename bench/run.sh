#!/usr/bin/env bash
# bench/run.sh — moat's latency and throughput benchmark (docs/benchmarks.md).
#
# Builds bin/moat and the bench tools, starts a fast upstream (bench/upstream,
# and optionally `moat simulator` with zero latency), starts moat in front of
# them with the request log on SQLite in a temporary folder, and for each
# concurrency runs bench/loadgen once directly against the upstream and once
# through moat, REPEAT times, alternating which goes first. It measures moat's
# CPU time and memory from /proc over each measured window, then prints the
# markdown tables of docs/benchmarks.md (also saved as $OUT/benchmarks.md).
#
# Everything listens on 127.0.0.1, every run is bounded in time, and every
# process started here is stopped on exit.
#
# Knobs (environment):
#   DURATION=10s       measured time per run        WARMUP=2s   unmeasured warm-up per run
#   REPEAT=3           paired repeats per row       CONCURRENCY="1 64"
#   UPSTREAMS="echo sim"  which upstreams to measure (echo: bench/upstream; sim: moat simulator)
#   STREAM=1           also measure streaming (0: plain calls only)
#   BASELINE=1         also measure a bare httputil.ReverseProxy (bench/proxy) in front of
#                      the echo upstream, as a reference for what any Go proxy costs (0: skip)
#   BASE_PORT=18400    ports BASE_PORT+1.. are used
#   MOAT_CPUS, CLIENT_CPUS  taskset CPU lists for moat and for loadgen + upstreams.
#                      Default: on 4 or more CPUs, moat gets CPUs 0,1 and the rest
#                      get 2..N-1; on fewer, nothing is pinned and all share.
#   AUTH=key           moat checks a static API key on each call (disabled: no authentication)
#   OUT=dir            where results.jsonl, logs and benchmarks.md go (default: a temp dir)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPEAT=${REPEAT:-3}
CONCURRENCY=${CONCURRENCY:-"1 64"}
UPSTREAMS=${UPSTREAMS:-"echo sim"}
STREAM=${STREAM:-1}
BASELINE=${BASELINE:-1}
BASE_PORT=${BASE_PORT:-18400}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/moat-bench.XXXXXX")}
mkdir -p "$OUT"

NCPU=$(nproc)
if [[ -z "${MOAT_CPUS+x}" && -z "${CLIENT_CPUS+x}" ]]; then
	if ((NCPU >= 4)); then
		MOAT_CPUS=0,1
		CLIENT_CPUS=2-$((NCPU - 1))
	else
		MOAT_CPUS=
		CLIENT_CPUS=
	fi
fi
MOAT_CPUS=${MOAT_CPUS:-}
CLIENT_CPUS=${CLIENT_CPUS:-}

ECHO_PORT=$((BASE_PORT + 1))
SIM_PORT=$((BASE_PORT + 2))
PROXY_PORT=$((BASE_PORT + 3))
MOAT_PORT=$((BASE_PORT + 10))
MGMT_PORT=$((BASE_PORT + 11))
API="api-version=2024-10-21"

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# pin CPUS CMD… runs CMD under taskset when CPUS is set.
pin() {
	local cpus=$1
	shift
	if [[ -n "$cpus" ]]; then
		taskset -c "$cpus" "$@"
	else
		"$@"
	fi
}

# spawn CPUS CMD… is pin for background processes: `spawn … &` runs in a
# subshell that exec replaces, so $! is the process itself and the trap can
# stop it by pid.
spawn() {
	local cpus=$1
	shift
	if [[ -n "$cpus" ]]; then
		exec taskset -c "$cpus" "$@"
	fi
	exec "$@"
}

# wait_http URL waits up to 10 s for URL to answer 200 to a POST.
wait_http() {
	local i
	for i in $(seq 100); do
		if curl -fsS -o /dev/null -X POST -H "api-key: $KEY" -H 'content-type: application/json' \
			-d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "no answer from $1"
	return 1
}

log "building bin/moat and the bench tools…"
go build -o bin/moat ./cmd/moat
go build -o bin/bench-loadgen ./bench/loadgen
go build -o bin/bench-upstream ./bench/upstream
go build -o bin/bench-report ./bench/report
go build -o bin/bench-proxy ./bench/proxy

# Upstreams.
spawn "$CLIENT_CPUS" bin/bench-upstream -addr "127.0.0.1:$ECHO_PORT" >"$OUT/upstream.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
SIM_PID=
if [[ " $UPSTREAMS " == *" sim "* ]]; then
	spawn "$CLIENT_CPUS" bin/moat simulator --addr "127.0.0.1:$SIM_PORT" --deployments gpt-4o-mini \
		--ttft 0 --tps 0 --jitter 0 --tpm 0 --rpm 0 >"$OUT/simulator.log" 2>&1 &
	SIM_PID=$!
	PIDS+=("$SIM_PID")
fi

PROXY_PID=
if [[ $BASELINE == 1 && " $UPSTREAMS " == *" echo "* ]]; then
	spawn "$MOAT_CPUS" bin/bench-proxy -addr "127.0.0.1:$PROXY_PORT" -upstream "http://127.0.0.1:$ECHO_PORT" \
		>"$OUT/proxy.log" 2>&1 &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
fi

# The client key. With AUTH=key (default) moat checks it on every call, as
# in production; AUTH=disabled measures moat without authentication.
AUTH=${AUTH:-key}
KEY=bench-client-key-0123456789abcdef0123456789
case $AUTH in
key) AUTH_YAML="auth:
  keys:
    - name: bench
      key: $KEY" ;;
disabled) AUTH_YAML="auth:
  disabled: true" ;;
*)
	log "AUTH must be key or disabled"
	exit 2
	;;
esac

# moat: one data listener, metrics on a management listener, the request
# log on SQLite (the default store) in $OUT, one deployment per upstream.
cat >"$OUT/moat.yaml" <<EOF
data_dir: $OUT/data
listeners:
  - name: bench
    address: 127.0.0.1:$MOAT_PORT
    kind: private_endpoint
management:
  listeners:
    - name: admin
      address: 127.0.0.1:$MGMT_PORT
      kind: private_endpoint
log:
  store: sqlite
  level: warn
$AUTH_YAML
upstreams:
  - name: echo
    type: azure
    endpoint: http://127.0.0.1:$ECHO_PORT
    api_key: bench-upstream-key
  - name: sim
    type: azure
    endpoint: http://127.0.0.1:$SIM_PORT
    api_key: bench-upstream-key
deployments:
  - name: echo-gpt-4o-mini
    model: gpt-4o-mini
    upstreams: [{upstream: echo, deployment: gpt-4o-mini}]
  - name: sim-gpt-4o-mini
    model: gpt-4o-mini
    upstreams: [{upstream: sim, deployment: gpt-4o-mini}]
EOF
mkdir -p "$OUT/data"
spawn "$MOAT_CPUS" bin/moat serve --config "$OUT/moat.yaml" >"$OUT/moat.log" 2>&1 &
MOAT_PID=$!
PIDS+=("$MOAT_PID")

direct_url() { # upstream
	local port=$ECHO_PORT
	[[ $1 == sim ]] && port=$SIM_PORT
	echo "http://127.0.0.1:$port/openai/deployments/gpt-4o-mini/chat/completions?$API"
}
proxy_url() { echo "http://127.0.0.1:$PROXY_PORT/openai/deployments/gpt-4o-mini/chat/completions?$API"; }
moat_url() { echo "http://127.0.0.1:$MOAT_PORT/openai/deployments/$1-gpt-4o-mini/chat/completions?$API"; }

for u in $UPSTREAMS; do
	wait_http "$(direct_url "$u")"
	wait_http "$(moat_url "$u")"
done
[[ -n $PROXY_PID ]] && wait_http "$(proxy_url)"

upstream_pid() { if [[ $1 == sim ]]; then echo "$SIM_PID"; else echo "$ECHO_PID"; fi; }

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# one UPSTREAM TARGET C STREAMFLAG REPEAT runs loadgen once.
one() {
	local u=$1 target=$2 c=$3 stream=$4 rep=$5 url watch metrics=()
	if [[ $target == moat ]]; then
		url=$(moat_url "$u")
		watch="moat=$MOAT_PID,upstream=$(upstream_pid "$u")"
		metrics=(-metrics "http://127.0.0.1:$MGMT_PORT/metrics")
	elif [[ $target == proxy ]]; then
		url=$(proxy_url)
		watch="proxy=$PROXY_PID,upstream=$(upstream_pid "$u")"
	else
		url=$(direct_url "$u")
		watch="upstream=$(upstream_pid "$u")"
	fi
	log "  $u $target c=$c stream=$stream repeat=$rep"
	pin "$CLIENT_CPUS" bin/bench-loadgen -url "$url" -c "$c" -d "$DURATION" -warmup "$WARMUP" \
		$([[ $stream == 1 ]] && echo -stream) -watch "$watch" "${metrics[@]}" \
		-key "$KEY" -tags "upstream=$u,target=$target,repeat=$rep" >>"$RESULTS"
}

modes=0
[[ $STREAM == 1 ]] && modes="0 1"
for rep in $(seq "$REPEAT"); do
	log "repeat $rep of $REPEAT (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for u in $UPSTREAMS; do
		for stream in $modes; do
			for c in $CONCURRENCY; do
				targets="direct moat"
				[[ -n $PROXY_PID && $u == echo ]] && targets="direct proxy moat"
				# Alternate the order so that drift in background load does
				# not always favour the same side.
				((rep % 2)) || targets=$(echo "$targets" | tr ' ' '\n' | tac | tr '\n' ' ')
				for target in $targets; do
					one "$u" "$target" "$c" "$stream" "$rep"
				done
			done
		done
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')."
	echo
	echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $NCPU logical CPUs; $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; Linux $(uname -r); $(go version | cut -d' ' -f3)."
	if [[ -n "$MOAT_CPUS" ]]; then
		echo "- Pinning: moat (and the bare proxy) on CPUs $MOAT_CPUS; loadgen and upstreams on CPUs ${CLIENT_CPUS:-any}."
	else
		echo "- Pinning: none; moat, loadgen and the upstream share all $NCPU CPUs."
	fi
	echo "- moat: request log on SQLite (default writer settings), authentication: $AUTH, process log level warn."
	echo "- Each run: ${WARMUP} warm-up, then ${DURATION} measured; $REPEAT repeats; concurrency ${CONCURRENCY// /, }."
	echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END."
	echo
	bin/bench-report "$RESULTS"
} | tee "$OUT/benchmarks.md"
log "results: $OUT (results.jsonl, benchmarks.md, moat.log)"
