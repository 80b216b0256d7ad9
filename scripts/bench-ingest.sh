#!/usr/bin/env bash
# Ingest throughput against its ceiling, on a real broker (BENCHMARKS.md,
# "Ingest").
#
# Starts a tansu broker (memory storage) on a free 127.0.0.1 port, fills a
# topic with simulator events (fast pace, keyed by order id, 2 % malformed
# records), then consumes the whole topic, alternately:
#   - bare:   ingest/examples/bare_consumer.rs, an rdkafka consumer with the
#             client settings of ingest::consume::run that only counts records
#             and bytes (the ceiling);
#   - ingest: `orderpulse ingest` into a fresh data directory, done when the
#             Parquet file names cover every offset that was produced.
# Each run uses a fresh consumer group. Rates are over the consuming time: for
# bare from its first record to its last, for ingest from its first
# `assigned` log line to the flush that completed the coverage (so the group
# join, ~6 s on tansu, is left out of both). Peak RSS is VmHWM; RSS is also
# sampled every 0.5 s to show whether it stays flat.
#
# Usage: scripts/bench-ingest.sh            (≈ 2.1 M records, 4 partitions, 2 rounds)
# Environment: RECORDS_RATE, DURATION (simulated time: records ≈ rate × duration),
#   PARTITIONS, ROUNDS, PERF=1 (perf record the last ingest run into $WORK/perf.data),
#   KEEP=1 (keep the scratch directory), CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

RECORDS_RATE=${RECORDS_RATE:-1000}
DURATION=${DURATION:-35m}
PARTITIONS=${PARTITIONS:-4}
ROUNDS=${ROUNDS:-2}
PERF=${PERF:-0}
TOPIC=order-attempts
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench-ingest: %s\n' "$*" >&2; exit 1; }

command -v tansu >/dev/null ||
    die "needs the tansu broker: cargo install tansu --version 0.6.0 --locked --features dynostore"

WORK=$(mktemp -d /tmp/bench-ingest.XXXXXX)
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
cargo build --release --locked -q -p orderpulse -p ingest --bin orderpulse --example bare_consumer
ORDERPULSE=$TARGET/release/orderpulse
BARE=$TARGET/release/examples/bare_consumer

# --- broker -------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BROKERS=127.0.0.1:$PORT
mkdir -p "$WORK/tansu"
(
    cd "$WORK/tansu"
    unset CLUSTER_ID LISTENER_URL ADVERTISED_LISTENER_URL STORAGE_ENGINE SCHEMA_REGISTRY DATA_LAKE
    exec env NO_COLOR=1 tansu broker --listener-url "tcp://$BROKERS" \
        --advertised-listener-url "tcp://$BROKERS" --storage-engine memory://tansu/
) >"$WORK/tansu.log" 2>&1 &
TANSU_PID=$!
PIDS+=("$TANSU_PID")
for _ in $(seq 100); do
    grep -q '^ready in' "$WORK/tansu.log" 2>/dev/null && break
    kill -0 "$TANSU_PID" 2>/dev/null || die "tansu exited: $(tail -5 "$WORK/tansu.log")"
    sleep 0.1
done
grep -q '^ready in' "$WORK/tansu.log" || die "tansu not ready: $(tail -5 "$WORK/tansu.log")"
(cd "$WORK/tansu" && tansu topic create --broker "tcp://$BROKERS" --partitions "$PARTITIONS" "$TOPIC" &&
    tansu topic create --broker "tcp://$BROKERS" --partitions 1 "$TOPIC.dlq") >>"$WORK/tansu.log" 2>&1
sleep 1

# --- fill ---------------------------------------------------------------------
log "filling $TOPIC ($PARTITIONS partitions) at simulated rate $RECORDS_RATE/s for $DURATION"
fill_started=$(date +%s.%N)
"$ORDERPULSE" simulate --brokers "$BROKERS" --topic "$TOPIC" --seed 5 \
    --start 2026-11-01T00:00:00+08:00 --flat --rate "$RECORDS_RATE" --duration "$DURATION" \
    --scenario malformed:share=0.02,oversized=0 2>"$WORK/simulate.log" ||
    die "simulate failed: $(tail -5 "$WORK/simulate.log")"
fill_secs=$(echo "$(date +%s.%N) - $fill_started" | bc)
RECORDS=$(grep -o '[0-9]* acknowledged' "$WORK/simulate.log" | tail -1 | cut -d' ' -f1)
[[ -n $RECORDS && $RECORDS -ge 2000000 ]] || die "produced ${RECORDS:-?} records, want >= 2000000"
log "produced $RECORDS records in ${fill_secs%.*} s"

# --- measuring ----------------------------------------------------------------
# RSS of $1 every 0.5 s into $2 (KiB), until it exits.
sample_rss() {
    while kill -0 "$1" 2>/dev/null; do
        awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null >>"$2" || true
        sleep 0.5
    done
}

# "min / median / max MB" of an RSS sample file, skipping the first 2 s.
rss_summary() {
    tail -n +5 "$1" | sort -n | awk '{a[NR]=$1} END {
        if (NR == 0) { print "-"; exit }
        printf "%.0f / %.0f / %.0f", a[1]/1024, a[int((NR+1)/2)]/1024, a[NR]/1024 }'
}

# Offsets the file names under $1 cover: the sum over partitions of (highest last + 1).
covered() {
    find "$1" -name "$TOPIC-p*.parquet" 2>/dev/null |
        sed -E 's/.*-p([0-9]+)-([0-9]+)-([0-9]+)-[0-9]+of[0-9]+\.parquet$/\1 \3/' |
        awk '{ if (!($1 in m) || $2 + 0 > m[$1]) m[$1] = $2 + 0 }
             END { s = 0; for (p in m) s += m[p] + 1; print s }'
}

epoch_of() { date -d "$1" +%s.%N; }

RESULTS=()
BYTES=0

run_bare() {
    local round=$1 out=$WORK/bare-$1.json rss=$WORK/bare-$1.rss
    "$BARE" --brokers "$BROKERS" --topic "$TOPIC" --group "bench-bare-$round-$$" \
        --records "$RECORDS" >"$out" 2>"$WORK/bare-$round.log" &
    local pid=$!
    PIDS+=("$pid")
    sample_rss "$pid" "$rss" &
    PIDS+=("$!")
    wait "$pid" || die "bare consumer failed: $(cat "$WORK/bare-$round.log")"
    local secs rate mbs hwm
    read -r secs rate mbs hwm BYTES < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["seconds"], r["records_per_s"], r["mb_per_s"], r["vm_hwm_kib"], r["bytes"])' "$out")
    RESULTS+=("bare $round $secs $rate $mbs $hwm $(rss_summary "$rss")")
    log "bare   round $round: $(printf '%.0f' "$rate") records/s, $(printf '%.1f' "$mbs") MB/s, peak RSS $((hwm / 1024)) MB"
}

run_ingest() {
    local round=$1 data=$WORK/data-$1 log=$WORK/ingest-$1.log rss=$WORK/ingest-$1.rss
    mkdir -p "$data"
    ORDERPULSE_USER_KEY_SECRET=bench-secret-0123456789abcdef ORDERPULSE_LOG=info,ingest::consume=debug \
        NO_COLOR=1 "$ORDERPULSE" ingest --brokers "$BROKERS" --topic "$TOPIC" \
        --group "bench-ingest-$round-$$" --data-dir "$data" --flush-interval 1s 2>"$log" &
    local pid=$!
    PIDS+=("$pid")
    sample_rss "$pid" "$rss" &
    PIDS+=("$!")
    local perf_pid=
    if [[ $PERF == 1 && $round == "$ROUNDS" ]]; then
        perf record -F 999 -p "$pid" -o "$WORK/perf.data" 2>"$WORK/perf.log" &
        perf_pid=$!
    fi
    local deadline=$((SECONDS + 900))
    until [[ $(covered "$data") -ge $RECORDS ]]; do
        kill -0 "$pid" 2>/dev/null || die "ingest exited: $(tail -20 "$log")"
        ((SECONDS < deadline)) || die "ingest did not store every offset within 900 s"
        sleep 0.2
    done
    local hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    [[ -n $perf_pid ]] && kill -INT "$perf_pid" && wait "$perf_pid" || true
    kill -TERM "$pid"
    wait "$pid" || die "ingest failed on SIGTERM: $(tail -20 "$log")"
    local first last secs rate mbs
    first=$(grep -m1 'ingest::consume.*: assigned ' "$log" | cut -d' ' -f1)
    last=$(grep 'ingest::consume.*: flushed ' "$log" | tail -1 | cut -d' ' -f1)
    secs=$(echo "$(epoch_of "$last") - $(epoch_of "$first")" | bc -l)
    rate=$(echo "$RECORDS / $secs" | bc -l)
    mbs=$(echo "$BYTES / $secs / 1000000" | bc -l)
    RESULTS+=("ingest $round $secs $rate $mbs $hwm $(rss_summary "$rss")")
    log "ingest round $round: $(printf '%.0f' "$rate") records/s, $(printf '%.1f' "$mbs") MB/s, peak RSS $((hwm / 1024)) MB ($(grep -c ': flushed ' "$log") flushes; $(tail -1 "$log"))"
}

for round in $(seq "$ROUNDS"); do
    run_bare "$round"
    run_ingest "$round"
done

# --- summary ------------------------------------------------------------------
echo
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "topic: $RECORDS records, $((BYTES / 1000000)) MB of values, $PARTITIONS partitions, filled in ${fill_secs%.*} s"
echo
printf '| %-6s | %5s | %8s | %10s | %6s | %13s | %23s |\n' run round seconds records/s MB/s "peak RSS (MB)" "RSS min / median / max"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' -------- ------: ---------: -----------: -------: ---------------: -------------------------:
for r in "${RESULTS[@]}"; do
    read -r tool round secs rate mbs hwm rss <<<"$r"
    printf '| %-6s | %5s | %8.2f | %10.0f | %6.1f | %13d | %23s |\n' \
        "$tool" "$round" "$secs" "$rate" "$mbs" $((hwm / 1024)) "$rss"
done
python3 - "${RESULTS[@]}" <<'EOF'
import statistics, sys
rates = {"bare": [], "ingest": []}
for r in sys.argv[1:]:
    f = r.split()
    rates[f[0]].append(float(f[3]))
b, i = statistics.median(rates["bare"]), statistics.median(rates["ingest"])
print(f"\nmedian records/s: bare {b:,.0f}, ingest {i:,.0f}; ratio ingest/bare = {i / b:.2f}x (goal >= 0.8x)")
EOF
if [[ $PERF == 1 ]]; then
    perf report -i "$WORK/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -40 >"$WORK/perf-top.txt" || true
    echo
    echo "perf (last ingest run, self time, top symbols):"
    cat "$WORK/perf-top.txt"
fi
