#!/usr/bin/env bash
# bench/profile.sh — a CPU profile of a running moat under bench/compare.sh's
# load, to say where a call's CPU goes (docs/benchmarks.md, "The cost of a
# call").
#
# It starts the fixed-answer upstream and one moat with compare.sh's
# moat-full config (a public listener under ip rules, stored API keys, a
# TPM + RPM rule per key and per deployment, the SQLite request log), stores
# KEYS keys, makes an administrator key for the management plane, warms up,
# then runs bench/loadgen at concurrency C for PROFILE_SECONDS while it takes a
# CPU profile from the management listener's /debug/pprof/profile, the
# allocations over the same window from /debug/pprof/allocs, and the live
# heap at the end. It prints
# the profile's top entries and the CPU per call measured from /proc.
#
# With TARGET=proxy, it profiles bench/proxy, the bare httputil.ReverseProxy
# compare.sh measures moat against, under the same load (no keys, no store):
# the other side of a per-function comparison with moat's profile.
#
# With STORE=pg, keys and the request log are in PostgreSQL (a fresh schema
# of PG_BASE's database, dropped at the end) and the limits in a
# redis-server of its own, as compare.sh's moat-pg.
#
# Knobs: TARGET=moat (or proxy) KEYS=1 (or 10000: each call the next key) PROFILE_SECONDS=10 C=64
#        STREAM=0 (1: streamed calls) STORE=sqlite (or pg) BASE_PORT=19600
#        PG_BASE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable OUT=dir
set -euo pipefail

cd "$(dirname "$0")/.."

KEYS=${KEYS:-1}
TARGET=${TARGET:-moat}
SECS=${PROFILE_SECONDS:-10}
C=${C:-64}
STREAM=${STREAM:-0}
BASE_PORT=${BASE_PORT:-19600}
STORE=${STORE:-sqlite}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
SCHEMA=moat_profile_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
PG_DSN="$PG_BASE&search_path=$SCHEMA"
REDIS_PORT=$((BASE_PORT + 4))
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/moat-profile.XXXXXX")}
mkdir -p "$OUT"
ECHO_PORT=$((BASE_PORT + 1))
PORT=$((BASE_PORT + 2))
MGMT=$((BASE_PORT + 3))
API="api-version=2024-10-21"

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	[[ $STORE == pg ]] && psql -q "$PG_BASE" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }

log "building…"
go build -o bin/moat ./cmd/moat
for t in loadgen upstream seedkeys proxy; do go build -o "bin/bench-$t" "./bench/$t"; done

bin/bench-upstream -addr "127.0.0.1:$ECHO_PORT" >"$OUT/upstream.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")

if [[ $TARGET == proxy ]]; then
	bin/bench-proxy -addr "127.0.0.1:$PORT" -upstream "http://127.0.0.1:$ECHO_PORT" -pprof "127.0.0.1:$MGMT" >"$OUT/proxy.log" 2>&1 &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	URL="http://127.0.0.1:$PORT/openai/deployments/gpt-4o-mini/chat/completions?$API"
	for i in $(seq 100); do
		curl -fsS -o /dev/null -X POST -H 'content-type: application/json' \
			-d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$URL" 2>/dev/null && break
		((i == 100)) && { log "no answer from the proxy: $(tail -5 "$OUT/proxy.log")"; exit 1; }
		sleep 0.2
	done
	stream=()
	[[ $STREAM == 1 ]] && stream=(-stream)
	bin/bench-loadgen -url "$URL" -c "$C" -d 3s -warmup 0 "${stream[@]}" >/dev/null
	log "profiling the bare proxy ${SECS}s at concurrency $C (STREAM=$STREAM)…"
	bin/bench-loadgen -url "$URL" -c "$C" -d "$((SECS + 2))s" -warmup 1s "${stream[@]}" \
		-watch "proxy=$PROXY_PID" -tags "target=proxy,stream=$STREAM" >"$OUT/load.json" &
	LOAD=$!
	sleep 1
	curl -fsS -o "$OUT/allocs.pprof" "http://127.0.0.1:$MGMT/debug/pprof/allocs?seconds=$SECS" &
	ALLOCS=$!
	curl -fsS -o "$OUT/cpu.pprof" "http://127.0.0.1:$MGMT/debug/pprof/profile?seconds=$SECS"
	wait "$ALLOCS" "$LOAD"
	cat "$OUT/load.json"
	go tool pprof -top -nodecount=40 bin/bench-proxy "$OUT/cpu.pprof" 2>/dev/null | head -50
	log "profiles: $OUT/cpu.pprof; $OUT/allocs.pprof (go tool pprof -sample_index=alloc_space bin/bench-proxy $OUT/allocs.pprof)"
	exit 0
fi

mkdir -p "$OUT/data"
if [[ $STORE == pg ]]; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
	PIDS+=("$!")
	psql -q "$PG_BASE" -c "CREATE SCHEMA $SCHEMA" >/dev/null
	REDIS_LINE="  redis: {address: '127.0.0.1:$REDIS_PORT'}"
	LOG_LINES="  store: postgres
  postgres_dsn: '$PG_DSN'"
	SEED=(-postgres "$PG_DSN")
else
	REDIS_LINE=""
	LOG_LINES="  store: sqlite"
	SEED=(-sqlite "$OUT/data/moat.db")
fi
cat >"$OUT/moat.yaml" <<EOF
data_dir: $OUT/data
listeners:
  - {name: data, address: 127.0.0.1:$PORT, kind: public}
management:
  listeners: [{name: admin, address: 127.0.0.1:$MGMT, kind: private_endpoint}]
network: {public_network_access: selected, ip_rules: [127.0.0.0/8]}
rate_limits:
$REDIS_LINE
  rules:
    - {name: per-key, scope: key, tpm: 1000000000, rpm: 100000000}
    - {name: per-deployment, scope: deployment, tpm: 1000000000, rpm: 100000000}
log:
$LOG_LINES
  level: warn
upstreams:
  - {name: echo, type: azure, endpoint: 'http://127.0.0.1:$ECHO_PORT', api_key: bench-upstream-key}
deployments:
  - {name: gpt-4o-mini, model: gpt-4o-mini, upstreams: [{upstream: echo, deployment: gpt-4o-mini}]}
EOF

log "storing $KEYS keys…"
bin/bench-seedkeys "${SEED[@]}" -n "$KEYS" >"$OUT/keys.txt"
admin=$(bin/moat keys create --config "$OUT/moat.yaml" --name profile-admin -o json)
admin_id=$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$admin" | head -1)
admin_key=$(sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' <<<"$admin" | head -1)
[[ -n $admin_id && -n $admin_key ]] || { log "could not read the admin key from: $admin"; exit 1; }
bin/moat roles assign --config "$OUT/moat.yaml" --role "Moat Administrator" --principal "key:$admin_id" >/dev/null

bin/moat serve --config "$OUT/moat.yaml" >"$OUT/moat.log" 2>&1 &
MOAT_PID=$!
PIDS+=("$MOAT_PID")

URL="http://127.0.0.1:$PORT/openai/deployments/gpt-4o-mini/chat/completions?$API"
for i in $(seq 100); do
	if curl -fsS -o /dev/null -X POST -H "api-key: $(head -1 "$OUT/keys.txt")" -H 'content-type: application/json' \
		-d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$URL" 2>/dev/null; then
		break
	fi
	((i == 100)) && { log "no answer from moat: $(tail -5 "$OUT/moat.log")"; exit 1; }
	sleep 0.2
done

stream=()
[[ $STREAM == 1 ]] && stream=(-stream)
# Warm up: every key once, then a few seconds of the load itself.
bin/bench-loadgen -url "$URL" -c 8 -n "$KEYS" -d 120s -warmup 0 -keys "$OUT/keys.txt" >/dev/null
bin/bench-loadgen -url "$URL" -c "$C" -d 3s -warmup 0 "${stream[@]}" -keys "$OUT/keys.txt" >/dev/null

log "profiling ${SECS}s at concurrency $C (KEYS=$KEYS STREAM=$STREAM)…"
bin/bench-loadgen -url "$URL" -c "$C" -d "$((SECS + 2))s" -warmup 1s "${stream[@]}" -keys "$OUT/keys.txt" \
	-watch "moat=$MOAT_PID" -tags "keys=$KEYS,stream=$STREAM,store=$STORE" >"$OUT/load.json" &
LOAD=$!
sleep 1
curl -fsS -H "api-key: $admin_key" -o "$OUT/allocs.pprof" "http://127.0.0.1:$MGMT/debug/pprof/allocs?seconds=$SECS" &
ALLOCS=$!
curl -fsS -H "api-key: $admin_key" -o "$OUT/cpu.pprof" "http://127.0.0.1:$MGMT/debug/pprof/profile?seconds=$SECS"
wait "$ALLOCS" "$LOAD"
curl -fsS -H "api-key: $admin_key" -o "$OUT/heap.pprof" "http://127.0.0.1:$MGMT/debug/pprof/heap?gc=1"
cat "$OUT/load.json"
go tool pprof -top -nodecount=40 bin/moat "$OUT/cpu.pprof" 2>/dev/null | head -50
log "profiles: $OUT/cpu.pprof; $OUT/allocs.pprof, the allocations over the same window (go tool pprof -sample_index=alloc_space bin/moat $OUT/allocs.pprof); $OUT/heap.pprof, the live heap at the end"
