//! End-to-end tests of the orderpulse binary.
//!
//! One test binary (`cargo test --test it`, or `cargo nextest run --test it`)
//! so the workspace links once. Layout:
//! - `support`: harnesses for real services (`TansuBroker`, a Kafka-protocol
//!   broker process per test) and the ledger helpers (`support::ledger`:
//!   the topic decoded again against the Parquet files read back).
//! - `broker`: the broker harness's own test: produce and consume through it.
//! - `simulate`: `orderpulse simulate` to a file and to a real broker.
//! - `ingest`: `orderpulse ingest` into Parquet, exactly once, across restarts.
//! - `rebalance`: three `orderpulse ingest` workers in one group; one killed
//!   with SIGKILL and one added while a producer runs; the ledger stays exact.
//! - `outage`: `orderpulse ingest` against librdkafka's mock cluster with
//!   every broker taken down and up, request errors, and a SIGTERM while
//!   the brokers are down; the ledger stays exact.
//! - `live`: an in-process ingest worker and `analytics` sharing `LiveRows`:
//!   consumed events answer SQL within 2 s, and once across their flush.
//! - `ops`: `orderpulse ingest --http-addr`: `/readyz` while storage fails
//!   and recovers, `/metrics` against what the Parquet files hold.
//! - `sql`: `orderpulse sql` and `orderpulse query` over a simulated data
//!   directory: formats, exit codes, messages.
//! - `api`: the SQL API over a real socket: JSON, CSV and Arrow IPC, saved
//!   queries, token auth, hostile bodies (4xx JSON errors, never a 5xx),
//!   health checks answering while a heavy query runs.
//! - `serve`: `orderpulse serve` against a real broker: produced events in
//!   `/api/sql` within 2 s, SIGTERM exits 0 with the rows stored; and
//!   `orderpulse demo`: simulated rows in `/api/sql` within 20 s, clean exit.
//! - `backtest`: `orderpulse backtest` over a simulated run with one incident
//!   and one decoy, scored against its truth; malformed and bad input.
//! - `spike`: `serve` with the spike detector on a real broker while the
//!   simulator runs an Alipay outage in real time: one alert on that slice
//!   within two intervals of the onset, in /api/alerts, the `alerts` table
//!   and `orderpulse_alerts_firing`; resolved after the outage; nothing else.
//! - `decode_simulated`: the decoder against the simulator's ground truth.
//! - `prometheus`: `dashboards/prometheus/alerts.yml` under `promtool check
//!   rules` and `promtool test rules`; a real Prometheus scraping `serve`
//!   (series labels and values against the Parquet files, rules healthy);
//!   `dashboards/grafana/orderpulse.json`'s PromQL and SQL run for real;
//!   both files name only metrics orderpulse exports.
//! - `alertmanager`: alert delivery (`dashboards::alerting`) to a real
//!   Alertmanager: labels and annotations in its v2 API, retried while it is
//!   down, kept active while re-sent, gone once resolved.
//! - `browser`: the dashboard in headless Chromium (`chromedriver`) against
//!   `serve` fed by the simulator: charts with data, a filter that changes
//!   them, the SQL console's rows, hostile event text inert; screenshots.
//! - `runbooks`: `serve --runbooks FILE` over the built-in runbooks on
//!   `/api/runbooks`; missing, malformed, oversized files refused.
//! - `pg`: the Postgres wire endpoint with the real `psql`: saved query SQL,
//!   types, errors, `\d`, refused statements, hostile input, the token.

mod alertmanager;
mod api;
mod backtest;
mod broker;
mod browser;
mod decode_simulated;
mod ingest;
mod live;
mod ops;
mod outage;
mod pg;
mod prometheus;
mod rebalance;
mod runbooks;
mod serve;
mod simulate;
mod spike;
mod sql;
mod support;
