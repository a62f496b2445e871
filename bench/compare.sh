#!/usr/bin/env bash
# bench/compare.sh — moat side by side with nginx and a bare Go reverse proxy
# (docs/benchmarks.md, "Side by side").
#
# One fixed-answer upstream (bench/upstream), one load client (bench/loadgen,
# closed loop at concurrency C), and in front of the upstream, all running at
# once and measured in turn, interleaved round by round:
#
#   nginx        Debian's nginx with its own config (keep-alive upstream pool,
#                no buffering), never the system service
#   proxy        bench/proxy, a bare httputil.ReverseProxy
#   moat-noauth  moat without authentication or limits, SQLite request log
#   moat-full    every stage on: a public listener under ip rules, stored API
#                keys, a TPM + RPM rule per key and one per deployment, the
#                SQLite request log
#   moat-pg      moat-full with the request log and keys in PostgreSQL (a fresh
#                schema of the shared database `test`) and the limits in a
#                redis-server of its own
#
# moat-full and moat-pg are measured with one stored key, and as moat-full-10k
# and moat-pg-10k, each a process of its own with a store of its own, with
# 10,000 stored keys in rotation (each call the next key; every key called
# once before the rounds, as a gateway's cache would be). Each run reads the CPU time
# (utime + stime from /proc/<pid>/stat) of every process of the target over
# the measured window, and its resident memory at the end. The order of the
# targets rotates from round to round, so drifting background load does not
# always favour one; bench/comparereport prints medians over rounds.
#
# Knobs: ROUNDS=3 DURATION=8s WARMUP=2s C=64 BASE_PORT=18600 STREAM=1
#        KEYS=10000 PG_BASE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#        OUT=dir (default: a temp dir)
#        TARGETS="proxy moat-full" STREAM_TARGETS="proxy moat-full" (default: all)
set -euo pipefail

cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
C=${C:-64}
STREAM=${STREAM:-1}
KEYS=${KEYS:-10000}
BASE_PORT=${BASE_PORT:-18600}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/moat-compare.XXXXXX")}
mkdir -p "$OUT"

ECHO_PORT=$((BASE_PORT + 1))
PROXY_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))
REDIS_PORT=$((BASE_PORT + 4))
API="api-version=2024-10-21"
SCHEMA=moat_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SCHEMA10K=${SCHEMA}_10k

PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	psql -q "$PG_BASE" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
	psql -q "$PG_BASE" -c "DROP SCHEMA IF EXISTS $SCHEMA10K CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }

command -v nginx >/dev/null || { log "nginx is not installed (apt-get install -y nginx-light)"; exit 2; }
command -v redis-server >/dev/null || { log "redis-server is not installed"; exit 2; }

log "building…"
go build -o bin/moat ./cmd/moat
for t in loadgen upstream proxy seedkeys comparereport; do go build -o "bin/bench-$t" "./bench/$t"; done

bin/bench-upstream -addr "127.0.0.1:$ECHO_PORT" >"$OUT/upstream.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
bin/bench-proxy -addr "127.0.0.1:$PROXY_PORT" -upstream "http://127.0.0.1:$ECHO_PORT" >"$OUT/proxy.log" 2>&1 &
PIDS+=("$!")
PROXY_PIDS=$!

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$OUT" >"$OUT/redis.log" 2>&1 &
PIDS+=("$!")

# nginx: two workers (one per CPU, as Go uses both), an upstream pool of
# kept-alive connections, no buffering so streams pass event by event.
mkdir -p "$OUT/nginx"
cat >"$OUT/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  fastcgi_temp_path $OUT/nginx/fastcgi;
  uwsgi_temp_path $OUT/nginx/uwsgi;
  scgi_temp_path $OUT/nginx/scgi;
  upstream echo { server 127.0.0.1:$ECHO_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" >"$OUT/nginx/stdout.log" 2>&1 &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")

psql -q "$PG_BASE" -c "CREATE SCHEMA $SCHEMA" >/dev/null
psql -q "$PG_BASE" -c "CREATE SCHEMA $SCHEMA10K" >/dev/null
PG_DSN="$PG_BASE&search_path=$SCHEMA"
PG_DSN10K="$PG_BASE&search_path=$SCHEMA10K"

# moat configs.
moat_yaml() { # name port mgmt full(0/1) pg(0/1) [postgres dsn]
	local name=$1 port=$2 mgmt=$3 full=$4 pg=$5 dsn=${6:-$PG_DSN}
	mkdir -p "$OUT/$name/data"
	{
		echo "data_dir: $OUT/$name/data"
		echo "listeners:"
		echo "  - {name: data, address: 127.0.0.1:$port, kind: $([[ $full == 1 ]] && echo public || echo private_endpoint)}"
		echo "management:"
		echo "  listeners: [{name: admin, address: 127.0.0.1:$mgmt, kind: private_endpoint}]"
		if [[ $full == 1 ]]; then
			echo "network: {public_network_access: selected, ip_rules: [127.0.0.0/8]}"
			echo "rate_limits:"
			[[ $pg == 1 ]] && echo "  redis: {address: '127.0.0.1:$REDIS_PORT'}"
			echo "  rules:"
			echo "    - {name: per-key, scope: key, tpm: 1000000000, rpm: 100000000}"
			echo "    - {name: per-deployment, scope: deployment, tpm: 1000000000, rpm: 100000000}"
		else
			echo "auth: {disabled: true}"
		fi
		echo "log:"
		if [[ $pg == 1 ]]; then
			echo "  store: postgres"
			echo "  postgres_dsn: '$dsn'"
		else
			echo "  store: sqlite"
		fi
		echo "  level: warn"
		cat <<EOF
upstreams:
  - {name: echo, type: azure, endpoint: 'http://127.0.0.1:$ECHO_PORT', api_key: bench-upstream-key}
deployments:
  - {name: gpt-4o-mini, model: gpt-4o-mini, upstreams: [{upstream: echo, deployment: gpt-4o-mini}]}
EOF
	} >"$OUT/$name.yaml"
}
moat_yaml moat-noauth $((BASE_PORT + 10)) $((BASE_PORT + 11)) 0 0
moat_yaml moat-full $((BASE_PORT + 20)) $((BASE_PORT + 21)) 1 0
moat_yaml moat-pg $((BASE_PORT + 30)) $((BASE_PORT + 31)) 1 1
moat_yaml moat-full-10k $((BASE_PORT + 40)) $((BASE_PORT + 41)) 1 0
moat_yaml moat-pg-10k $((BASE_PORT + 50)) $((BASE_PORT + 51)) 1 1 "$PG_DSN10K"

log "storing 1 and $KEYS keys in SQLite and PostgreSQL…"
bin/bench-seedkeys -sqlite "$OUT/moat-full/data/moat.db" -n 1 >"$OUT/key1-sqlite.txt"
bin/bench-seedkeys -postgres "$PG_DSN" -n 1 >"$OUT/key1-pg.txt"
bin/bench-seedkeys -sqlite "$OUT/moat-full-10k/data/moat.db" -n "$KEYS" >"$OUT/keys-sqlite.txt"
bin/bench-seedkeys -postgres "$PG_DSN10K" -n "$KEYS" >"$OUT/keys-pg.txt"

declare -A MOAT_PID
for name in moat-noauth moat-full moat-pg moat-full-10k moat-pg-10k; do
	bin/moat serve --config "$OUT/$name.yaml" >"$OUT/$name.log" 2>&1 &
	MOAT_PID[$name]=$!
	PIDS+=("$!")
done

url_of() { # target
	case $1 in
	nginx) echo "http://127.0.0.1:$NGINX_PORT" ;;
	proxy) echo "http://127.0.0.1:$PROXY_PORT" ;;
	moat-noauth) echo "http://127.0.0.1:$((BASE_PORT + 10))" ;;
	moat-full) echo "http://127.0.0.1:$((BASE_PORT + 20))" ;;
	moat-pg) echo "http://127.0.0.1:$((BASE_PORT + 30))" ;;
	moat-full-10k) echo "http://127.0.0.1:$((BASE_PORT + 40))" ;;
	moat-pg-10k) echo "http://127.0.0.1:$((BASE_PORT + 50))" ;;
	esac
}
keys_of() { # target
	case $1 in
	moat-full) echo "$OUT/key1-sqlite.txt" ;;
	moat-full-10k) echo "$OUT/keys-sqlite.txt" ;;
	moat-pg) echo "$OUT/key1-pg.txt" ;;
	moat-pg-10k) echo "$OUT/keys-pg.txt" ;;
	*) echo "$OUT/key1-sqlite.txt" ;; # sent, not checked
	esac
}
# watch_of TARGET: name=pid for every process of the target.
watch_of() {
	local t=$1 w="" p
	case $t in
	nginx)
		w="nginx=$NGINX_MASTER"
		for p in $(pgrep -P "$NGINX_MASTER"); do w="$w,nginx-w$p=$p"; done
		;;
	proxy) w="proxy=$PROXY_PIDS" ;;
	*) w="moat=${MOAT_PID[$t]}" ;;
	esac
	echo "$w,upstream=$ECHO_PID"
}
rss_of() { # pid…: resident KiB summed
	local p n=0
	for p in "$@"; do n=$((n + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done
	echo "$n"
}

for t in nginx proxy moat-noauth moat-full moat-pg moat-full-10k moat-pg-10k; do
	u="$(url_of "$t")/openai/deployments/gpt-4o-mini/chat/completions?$API"
	for i in $(seq 100); do
		if curl -fsS -o /dev/null -X POST -H "api-key: $(head -1 "$(keys_of "$t")")" -H 'content-type: application/json' \
			-d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}' "$u" 2>/dev/null; then
			break
		fi
		((i == 100)) && { log "no answer from $t"; exit 1; }
		sleep 0.2
	done
done

# Warm the key caches with every key once (steady state, as in production).
for t in moat-full-10k moat-pg-10k; do
	bin/bench-loadgen -url "$(url_of "$t")/openai/deployments/gpt-4o-mini/chat/completions?$API" -c 8 \
		-n "$KEYS" -d 120s -warmup 0 -keys "$(keys_of "$t")" >/dev/null
done

read -r -a TARGETS <<<"${TARGETS:-nginx proxy moat-noauth moat-full moat-full-10k moat-pg moat-pg-10k}"
read -r -a STREAM_TARGETS <<<"${STREAM_TARGETS:-nginx proxy moat-noauth moat-full}"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	log "round $round of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for mode in plain $([[ $STREAM == 1 ]] && echo stream); do
		list=("${TARGETS[@]}")
		[[ $mode == stream ]] && list=("${STREAM_TARGETS[@]}")
		# Rotate the order by the round.
		n=${#list[@]}
		for ((k = 0; k < n; k++)); do
			t=${list[$(((k + round - 1) % n))]}
			w=$(watch_of "$t")
			pids=$(echo "$w" | tr ',' '\n' | grep -v '^upstream=' | cut -d= -f2)
			# shellcheck disable=SC2086
			idle=$(rss_of $pids)
			log "  $mode $t"
			bin/bench-loadgen -url "$(url_of "$t")/openai/deployments/gpt-4o-mini/chat/completions?$API" \
				-c "$C" -d "$DURATION" -warmup "$WARMUP" $([[ $mode == stream ]] && echo -stream) \
				-keys "$(keys_of "$t")" -watch "$w" \
				-tags "target=$t,mode=$mode,round=$round,idle_rss_kb=$idle" >>"$RESULTS"
		done
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')."
	echo
	echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) logical CPUs; Linux $(uname -r); $(go version | cut -d' ' -f3); $(nginx -v 2>&1 | cut -d: -f2- | sed 's/^ *//')."
	echo "- $ROUNDS rounds, targets interleaved (order rotated each round); each run ${WARMUP} warm-up then ${DURATION} measured at concurrency $C; medians over rounds."
	echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END."
	echo
	bin/bench-comparereport -c "$C" "$RESULTS"
} | tee "$OUT/compare.md"
log "results: $OUT"
