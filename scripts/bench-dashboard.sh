#!/usr/bin/env bash
# The dashboard's overview API under load while ingesting (BENCHMARKS.md,
# "Dashboard"; issue 5: >= 5 000 req/s, p99 <= 50 ms on 2 cores).
#
# Starts a tansu broker (memory storage) on a free 127.0.0.1 port, fills a
# 2-partition topic with the last HISTORY of simulator events at RATE/s
# (ending now), starts `orderpulse serve` (alerts on, as deployed) on a fresh
# data directory and waits until it has stored them, then keeps a simulator
# producing RATE events/s in real time while `wrk` (Debian package `wrk`)
# drives GET /api/overview for each window in WINDOWS, DURATION each, with
# CONNECTIONS connections on 2 threads, then once more with every request a
# different query string on DISTINCT_CONNECTIONS connections (`1h-distinct`:
# no answer shared, each one counted from the rollup; past 64 requests in
# flight serve sheds load with 503, counted as errors). wrk, serve, the broker and the simulator share this
# machine's cores.
#
# Usage: scripts/bench-dashboard.sh
# Environment: RATE (1000), HISTORY (1h), WINDOWS ("1h 24h"), DURATION (30s),
#   CONNECTIONS (64), DISTINCT_CONNECTIONS (8), KEEP=1 (keep the scratch directory), CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

RATE=${RATE:-1000}
HISTORY=${HISTORY:-1h}
WINDOWS=${WINDOWS:-1h 24h}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-64}
DISTINCT_CONNECTIONS=${DISTINCT_CONNECTIONS:-8}
TOPIC=order-attempts
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-dashboard: %s\n' "$*" >&2; exit 1; }

command -v tansu >/dev/null ||
    die "needs the tansu broker: cargo install tansu --version 0.6.0 --locked --features dynostore"
command -v wrk >/dev/null || die "needs wrk: apt-get install wrk"

WORK=$(mktemp -d /tmp/bench-dashboard.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release)"
cargo build --release --locked -q -p orderpulse --bin orderpulse
ORDERPULSE=$TARGET/release/orderpulse
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- broker -------------------------------------------------------------------
BROKERS=127.0.0.1:$(free_port)
mkdir -p "$WORK/tansu"
(
    cd "$WORK/tansu"
    unset CLUSTER_ID LISTENER_URL ADVERTISED_LISTENER_URL STORAGE_ENGINE SCHEMA_REGISTRY DATA_LAKE
    exec env NO_COLOR=1 tansu broker --listener-url "tcp://$BROKERS" \
        --advertised-listener-url "tcp://$BROKERS" --storage-engine memory://tansu/
) >"$WORK/tansu.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
    grep -q '^ready in' "$WORK/tansu.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '^ready in' "$WORK/tansu.log" || die "tansu not ready: $(tail -5 "$WORK/tansu.log")"
(cd "$WORK/tansu" && tansu topic create --broker "tcp://$BROKERS" --partitions 2 "$TOPIC") \
    >>"$WORK/tansu.log" 2>&1
sleep 1

# --- history ------------------------------------------------------------------
log "producing the last $HISTORY at $RATE events/s"
"$ORDERPULSE" simulate --brokers "$BROKERS" --topic "$TOPIC" --seed 11 --pace fast \
    --rate "$RATE" --flat --duration "$HISTORY" 2>"$WORK/history.log" ||
    die "simulate failed: $(tail -5 "$WORK/history.log")"
RECORDS=$(grep -o '[0-9]* acknowledged' "$WORK/history.log" | tail -1 | cut -d' ' -f1)
log "produced $RECORDS records"

# --- serve --------------------------------------------------------------------
HTTP=127.0.0.1:$(free_port)
ORDERPULSE_USER_KEY_SECRET=bench-secret-0123456789abcdef NO_COLOR=1 \
    "$ORDERPULSE" serve --brokers "$BROKERS" --topic "$TOPIC" --data-dir "$WORK/data" \
    --http-addr "$HTTP" --pg-addr "" --dlq-topic "" 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
count() {
    curl -sf -H 'content-type: application/json' \
        -d '{"sql":"SELECT count(*) FROM order_attempts"}' "http://$HTTP/api/sql" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0][0])' 2>/dev/null || echo 0
}
deadline=$((SECONDS + 600))
until [[ $(count) -ge $((RECORDS * 99 / 100)) ]]; do
    kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited: $(tail -20 "$WORK/serve.log")"
    ((SECONDS < deadline)) || die "serve did not ingest the history within 600 s"
    sleep 1
done
log "serve holds $(count) rows; producing $RATE events/s in real time"
"$ORDERPULSE" simulate --brokers "$BROKERS" --topic "$TOPIC" --seed 12 \
    --rate "$RATE" --flat --duration 2h 2>"$WORK/live.log" &
PIDS+=("$!")
sleep 5

# --- load ---------------------------------------------------------------------
RESULTS=()
# run_wrk LABEL CONNECTIONS WRK-ARGS...: one wrk run, its row in RESULTS.
run_wrk() {
    local label=$1 connections=$2 out=$WORK/wrk-$1.txt
    shift 2
    local before after rps p50 p99 errors n_err
    before=$(count)
    wrk -t2 -c"$connections" -d"$DURATION" --latency "$@" >"$out"
    after=$(count)
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    errors=$(grep -E 'Non-2xx|Socket errors' "$out" || true)
    n_err=$(awk '/Non-2xx/ {print $NF}' "$out")
    RESULTS+=("$label $rps $p50 $p99 $((after - before)) ${n_err:-0}")
    log "now-$label: $rps req/s, p50 $p50, p99 $p99, ingested $((after - before)) rows meanwhile ${errors:+($errors)}"
}
for window in $WINDOWS; do
    url="http://$HTTP/api/overview?start=now-$window"
    curl -sf "$url" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print("counted_from", v["counted_from"], "attempts", v["totals"]["attempts"], file=sys.stderr)'
    run_wrk "$window" "$CONNECTIONS" "$url"
done
# Every request a different one-hour window (ending now-Ks, K counting up), so
# none is answered from the 1 s shared answers: the rollup's own cost.
cat >"$WORK/distinct.lua" <<'LUA'
local n = 0
request = function()
    n = n + 1
    local k = n % 100000
    return wrk.format("GET", "/api/overview?start=now-" .. (3600 + k) .. "s&end=now-" .. k .. "s")
end
LUA
run_wrk 1h-distinct "$DISTINCT_CONNECTIONS" -s "$WORK/distinct.lua" "http://$HTTP"
kill -0 "$SERVE_PID" || die "serve died under load: $(tail -20 "$WORK/serve.log")"

echo
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t2 -c$CONNECTIONS -d$DURATION --latency; history $RECORDS records; live $RATE events/s"
echo
printf '| %-15s | %9s | %8s | %8s | %13s | %8s |\n' window "req/s" p50 p99 "rows ingested" "non-2xx"
printf '|%s|%s|%s|%s|%s|%s|\n' ----------------- ----------: ---------: ---------: ---------------: ---------:
for r in "${RESULTS[@]}"; do
    read -r window rps p50 p99 rows errs <<<"$r"
    printf '| %-15s | %9s | %8s | %8s | %13s | %8s |\n' "now-$window" "$rps" "$p50" "$p99" "$rows" "$errs"
done
