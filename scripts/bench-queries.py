#!/usr/bin/env python3
"""Saved queries: `orderpulse query` against DuckDB on the same Parquet files
(BENCHMARKS.md, "Queries").

1. Data (cached in $DATA, default ~/.cache/orderpulse/bench-queries-<EVENTS>):
   a simulated week (`orderpulse simulate --start ... --duration 7d --scenario
   mixed,malformed`) produced to a tansu broker (memory storage, free
   127.0.0.1 port) and stored by `orderpulse ingest` exactly as in
   production. Done when the Parquet file names cover every produced offset.
2. Every saved query (queries/*.sql) over three windows: the whole week, the
   last 24 h and the last hour of the data (the dashboard's windows), run
   ROUNDS times each, alternating engines:
   - orderpulse: `orderpulse query NAME --format csv --param ...`, a new
     process each time (start-up, file listing and planning included);
   - DuckDB: the same query translated to DuckDB's dialect (date_bin ->
     time_bucket, first_value -> first), over views on the same files, in a
     warm in-process connection (DuckDB's best case).
   - orderpulse --form events: the same, made to count from order_attempts
     alone (queries/<name>.sql as written; without it, the counting queries
     read the per-minute counts in order_attempts_minutes for the window's
     whole minutes).
   The results are compared (same rows, same values to 4 decimals): a
   benchmark of a wrong answer is worthless.
3. Prints a Markdown table: median milliseconds of each engine and the
   ratios to DuckDB per query and window.

Data stored before ingest wrote minutes files gets them from `orderpulse
backfill` first (timed and reported: a one-time cost; ingest writes them
with every flush).

Usage: scripts/bench-queries.py            (10 M events, 5 rounds)
Environment: EVENTS (default 10000000), ROUNDS (5), PARTITIONS (4), DATA,
  QUERIES (comma-separated saved query names: only these; default all),
  KEEP_BROKER_LOGS=1, CARGO_TARGET_DIR, SKIP_BUILD=1 (use the existing
  release binary). Needs: tansu on PATH, `pip install duckdb`.
"""

import csv
import io
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = int(os.environ.get("EVENTS", "10000000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
QUERIES = [q for q in os.environ.get("QUERIES", "").split(",") if q]
PARTITIONS = int(os.environ.get("PARTITIONS", "4"))
TOPIC = "order-attempts"
START = "2026-11-02T00:00:00+08:00"  # a Monday, shoppers' time
WEEK_S = 7 * 24 * 3600
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = TARGET / "release" / "orderpulse"
DATA = Path(
    os.environ.get(
        "DATA", Path.home() / ".cache" / "orderpulse" / f"bench-queries-{EVENTS}"
    )
)
SECRET = "bench-secret-0123456789abcdef"


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"bench-queries: {msg}", file=sys.stderr)
    sys.exit(1)


try:
    import duckdb
except ImportError:
    die("needs DuckDB's Python package: pip install duckdb")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLUSH_NAME = re.compile(r"-p(\d+)-(\d+)-(\d+)-\d+of\d+\.parquet$")


def covered(data):
    """Offsets the file names under `data` cover: sum over partitions of (highest last + 1)."""
    high = {}
    for path in data.rglob(f"{TOPIC}-p*.parquet"):
        m = FLUSH_NAME.search(path.name)
        if m:
            p, last = int(m.group(1)), int(m.group(3))
            high[p] = max(high.get(p, -1), last)
    return sum(v + 1 for v in high.values())


def build():
    if os.environ.get("SKIP_BUILD") == "1" and BIN.exists():
        return
    log("building (release)")
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-q", "-p", "orderpulse", "--bin", "orderpulse"],
        cwd=ROOT,
        check=True,
    )


def generate():
    """Fills DATA with a simulated week through a real broker and ingest."""
    done = DATA / ".complete"
    if done.exists():
        log(f"using the data in {DATA}")
        return int(done.read_text())
    if shutil.which("tansu") is None:
        die("needs the tansu broker: cargo install tansu --version 0.6.0 --locked --features dynostore")
    if DATA.exists():
        shutil.rmtree(DATA)
    (DATA / "data").mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="bench-queries."))
    procs = []
    try:
        port = free_port()
        brokers = f"127.0.0.1:{port}"
        tansu_log = open(work / "tansu.log", "w")
        env = {k: v for k, v in os.environ.items() if k not in (
            "CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        env["NO_COLOR"] = "1"
        tansu = subprocess.Popen(
            ["tansu", "broker", "--listener-url", f"tcp://{brokers}",
             "--advertised-listener-url", f"tcp://{brokers}", "--storage-engine", "memory://tansu/"],
            cwd=work, stdout=tansu_log, stderr=subprocess.STDOUT, env=env)
        procs.append(tansu)
        for _ in range(100):
            if "ready in" in (work / "tansu.log").read_text():
                break
            time.sleep(0.1)
        else:
            die("tansu did not start: " + (work / "tansu.log").read_text()[-500:])
        for name, parts in ((TOPIC, PARTITIONS), (TOPIC + ".dlq", 1)):
            subprocess.run(["tansu", "topic", "create", "--broker", f"tcp://{brokers}",
                            "--partitions", str(parts), name], cwd=work, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        rate = EVENTS / WEEK_S
        log(f"simulating a week at {rate:.2f} events/s ({EVENTS} events) into {brokers}")
        started = time.time()
        sim = subprocess.run(
            [str(BIN), "simulate", "--brokers", brokers, "--topic", TOPIC, "--seed", "11",
             "--start", START, "--duration", "7d", "--rate", f"{rate:.4f}",
             "--scenario", "mixed", "--scenario", "malformed:share=0.005,oversized=0"],
            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        if sim.returncode != 0:
            die("simulate failed: " + sim.stderr[-1000:])
        records = int(re.findall(r"(\d+) acknowledged", sim.stderr)[-1])
        log(f"produced {records} records in {time.time() - started:.0f} s; ingesting")
        started = time.time()
        ingest_log = open(work / "ingest.log", "w")
        ingest = subprocess.Popen(
            [str(BIN), "ingest", "--brokers", brokers, "--topic", TOPIC,
             "--data-dir", str(DATA / "data"), "--flush-interval", "2s"],
            stdout=subprocess.DEVNULL, stderr=ingest_log,
            env={**os.environ, "NO_COLOR": "1", "ORDERPULSE_USER_KEY_SECRET": SECRET})
        procs.append(ingest)
        deadline = time.time() + 3600
        while covered(DATA / "data") < records:
            if ingest.poll() is not None:
                die("ingest exited: " + (work / "ingest.log").read_text()[-2000:])
            if time.time() > deadline:
                die("ingest did not store everything within an hour")
            time.sleep(1)
        ingest.terminate()
        if ingest.wait(timeout=30) != 0:
            die("ingest failed on SIGTERM: " + (work / "ingest.log").read_text()[-2000:])
        log(f"stored in {time.time() - started:.0f} s")
        done.write_text(str(records))
        return records
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("KEEP_BROKER_LOGS") == "1":
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def saved_queries():
    """name -> (SQL text, names of its parameters)"""
    out = {}
    for path in sorted((ROOT / "queries").glob("*.sql")):
        text = path.read_text()
        params = re.findall(r"^-- param: (\w+)", text, re.M)
        out[path.stem] = (text, params)
    unknown = [q for q in QUERIES if q not in out]
    if unknown:
        die(f"QUERIES names no saved query: {', '.join(unknown)} (have {', '.join(out)})")
    return {name: q for name, q in out.items() if not QUERIES or name in QUERIES}


def to_duckdb(sql, values):
    """A saved query in DuckDB's dialect with its parameters as literals."""
    body = "\n".join(l for l in sql.splitlines() if not l.startswith("--"))
    for name, value in values.items():
        lit = f"INTERVAL '{value}'" if name == "bucket" else f"TIMESTAMPTZ '{value}'"
        body = body.replace(f"${name}", lit)
    body = body.replace("date_bin(", "time_bucket(")
    body = body.replace("first_value(", "first(")
    return body


def normalise(rows):
    """Rows as comparable tuples: numbers rounded, timestamps as UTC epoch seconds."""
    out = []
    for row in rows:
        cells = []
        for v in row:
            if v is None or v == "":
                cells.append(None)
                continue
            if hasattr(v, "timestamp"):
                cells.append(round(v.timestamp()))
                continue
            s = str(v)
            try:
                f = float(s)
                # 6 significant digits: the engines interpolate percentiles
                # in a different order of floating-point operations.
                cells.append(float(f"{f:.6g}") if math.isfinite(f) else s)
                continue
            except ValueError:
                pass
            if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", s):
                from datetime import datetime
                cells.append(round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()))
                continue
            cells.append(s)
        out.append(tuple(cells))
    return out


def backfill(data):
    """Writes the minutes files data stored by an older ingest lacks."""
    started = time.perf_counter()
    r = subprocess.run([str(BIN), "backfill", "--data-dir", str(data)],
                       capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    if r.returncode != 0:
        die("backfill failed: " + r.stderr[-2000:])
    log(f"backfill: {r.stderr.strip().splitlines()[-1]} ({time.perf_counter() - started:.1f} s)")


def run_orderpulse(name, values, form="auto"):
    args = [str(BIN), "query", name, "--format", "csv", "--data-dir", str(DATA / "data"),
            "--form", form]
    for k, v in values.items():
        args += ["--param", f"{k}={v}"]
    started = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    ms = (time.perf_counter() - started) * 1000
    if r.returncode != 0:
        return ms, r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else f"exit {r.returncode}"
    rows = list(csv.reader(io.StringIO(r.stdout)))[1:]
    return ms, rows


def main():
    build()
    records = generate()
    data = DATA / "data"
    backfill(data)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW order_attempts AS SELECT * FROM read_parquet('{data}/order_attempts/*/*.parquet', hive_partitioning = false)")
    con.execute(f"CREATE VIEW rejected_events AS SELECT * FROM read_parquet('{data}/rejected_events/*/*.parquet', hive_partitioning = false)")
    events, first, last = con.execute("SELECT count(*), min(ts), max(ts) FROM order_attempts").fetchone()
    log(f"{events} stored events from {first} to {last}")
    end = last.replace(minute=0, second=0, microsecond=0)
    from datetime import timedelta
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    windows = {
        "week": (first.replace(minute=0, second=0, microsecond=0), end + timedelta(hours=1), "1 hour"),
        "24 h": (end - timedelta(hours=23), end + timedelta(hours=1), "5 minutes"),
        "1 h": (end, end + timedelta(hours=1), "1 minute"),
    }
    results = []
    for name, (sql, params) in saved_queries().items():
        for wname, (start, stop, bucket) in windows.items():
            values = {}
            for p in params:
                if p == "start":
                    values[p] = iso(start)
                elif p == "end":
                    values[p] = iso(stop)
                elif p == "bucket":
                    values[p] = bucket
            if name == "rejected_by_reason":
                # Rejections are dated by ingestion time: the whole run.
                values = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
                if wname != "week":
                    continue
            dsql = to_duckdb(sql, values)
            ours, events_only, theirs = [], [], []
            for _ in range(ROUNDS):
                ms, rows = run_orderpulse(name, values)
                if isinstance(rows, str):
                    break
                ours.append(ms)
                ms, erows = run_orderpulse(name, values, "events")
                if isinstance(erows, str):
                    rows = erows
                    break
                events_only.append(ms)
                started = time.perf_counter()
                drows = con.execute(dsql).fetchall()
                theirs.append((time.perf_counter() - started) * 1000)
            if isinstance(rows, str):
                # A failure is a result too: shown in the table, not hidden.
                results.append((name, wname, "-", None, None, None, rows))
                log(f"{name:32} {wname:5} orderpulse FAILED: {rows}")
                continue
            a, e, b = normalise(rows), normalise(erows), normalise(drows)
            for mine, what in ((a, "orderpulse"), (e, "orderpulse --form events")):
                if sorted(mine, key=repr) != sorted(b, key=repr):
                    diff = [r for r in mine if r not in b][:3]
                    die(f"{name} ({wname}): {what} and DuckDB disagree: {len(mine)} vs {len(b)} rows; e.g. {diff} vs {[r for r in b if r not in mine][:3]}")
            o, ev, d = statistics.median(ours), statistics.median(events_only), statistics.median(theirs)
            results.append((name, wname, len(a), o, ev, d, o / d))
            log(f"{name:32} {wname:5} {len(a):6} rows  orderpulse {o:8.1f} ms  events only {ev:8.1f} ms  duckdb {d:8.1f} ms  ratio {o / d:5.2f}")
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; load average {open('/proc/loadavg').read().split()[:3]}")
    def size(table):
        files = list((data / table).rglob('*.parquet'))
        return f"{sum(f.stat().st_size for f in files) // 1_000_000} MB in {len(files)} files"
    print(f"data: {events} events ({records} Kafka records) over a simulated week; "
          f"order_attempts {size('order_attempts')}, order_attempts_minutes {size('order_attempts_minutes')}, "
          f"rejected_events_minutes {size('rejected_events_minutes')}; "
          f"DuckDB {duckdb.__version__}; {ROUNDS} rounds, medians")
    print()
    print("| query | window | rows | orderpulse ms | --form events ms | DuckDB ms | ratio | events ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, wname, rows, o, ev, d, ratio in results:
        if o is None:
            print(f"| {name} | {wname} | - | failed: {ratio} | - | - | - | - |")
        else:
            print(f"| {name} | {wname} | {rows} | {o:.1f} | {ev:.1f} | {d:.1f} | {ratio:.2f} | {ev / d:.2f} |")
    ok = [r[6] for r in results if r[3] is not None]
    ev = [r[4] / r[5] for r in results if r[3] is not None]
    print()
    print(f"ratio over {len(ok)} runs that answered: median {statistics.median(ok):.2f}, "
          f"max {max(ok):.2f}; --form events: median {statistics.median(ev):.2f}, max {max(ev):.2f}; "
          f"{len(results) - len(ok)} failed")


if __name__ == "__main__":
    main()
