//! [`Prometheus`]: a real Prometheus server (Debian `prometheus`) for one
//! test, and [`promtool`], its rule checker.
//!
//! Each server is its own `prometheus` child process on a free port of
//! 127.0.0.1 with its storage in a temporary directory, scraping the given
//! targets every second under the job name `orderpulse` and evaluating the
//! given rule files every second. Its log goes to a file in that directory
//! and is shown when a wait fails. It is killed on drop.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::process::{Running, free_addr};

const INSTALL: &str =
    "apt-get install prometheus (Debian's package ships both prometheus and promtool)";
/// How long a server may take to answer `/-/ready` after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The program `name` on `PATH`, or a failure saying how to install it.
pub(crate) fn on_path(name: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("{name} not found on PATH: {install}"))
}

/// The `promtool` binary.
pub(crate) fn promtool() -> PathBuf {
    on_path("promtool", INSTALL)
}

/// A running Prometheus server, killed on drop.
pub(crate) struct Prometheus {
    process: Running,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts a server scraping `targets` (job `orderpulse`, every second)
    /// and evaluating `rule_files` (every second), and waits until it is
    /// ready.
    #[track_caller]
    pub(crate) fn start(targets: &[SocketAddr], rule_files: &[&Path]) -> Self {
        let binary = on_path("prometheus", INSTALL);
        let mut dir = tempfile::tempdir().expect("prometheus dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(targets, rule_files)).expect("write config");
        // The port is free when picked, but another process may take it
        // first: a server that exits at once is started again (on another
        // port), and the test fails with every attempt's log.
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let addr = free_addr();
            let log = File::create(dir.path().join("prometheus.log")).expect("log");
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let mut server = Self {
                process: Running(child),
                addr,
                dir,
            };
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                if http::get(addr, "/-/ready", &[]).is_some_and(|r| r.status == 200) {
                    return server;
                }
                if let Ok(Some(status)) = server.process.0.try_wait() {
                    let failure = format!(
                        "attempt {attempt} on {addr}: prometheus exited ({status}):\n{}",
                        server.log()
                    );
                    eprintln!("{failure}");
                    failures.push(failure);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "prometheus not ready within {READY_TIMEOUT:?}:\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            dir = server.into_dir();
            let _ = std::fs::remove_dir_all(dir.path().join("data"));
        }
        panic!("prometheus did not start:\n{}", failures.join("\n"));
    }

    fn into_dir(self) -> tempfile::TempDir {
        let Self { process, dir, .. } = self;
        drop(process);
        dir
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` of the HTTP API: its `data` once `status` is `success`;
    /// panics with the answer otherwise.
    #[track_caller]
    pub(crate) fn api(&self, path: &str) -> serde_json::Value {
        let r = http::get(self.addr, path, &[]).expect("prometheus answers");
        let body = r.json();
        assert!(
            r.status == 200 && body["status"] == "success",
            "GET {path}: {} {body}",
            r.status
        );
        body["data"].clone()
    }

    /// An instant query's result vector (`/api/v1/query`).
    #[track_caller]
    pub(crate) fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)));
        assert_eq!(data["resultType"], "vector", "{promql}: {data}");
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// The configuration: every target under job `orderpulse`, scraped and
/// evaluated every second.
fn config_yaml(targets: &[SocketAddr], rule_files: &[&Path]) -> String {
    let quote = |s: String| serde_json::Value::String(s).to_string();
    let targets: Vec<String> = targets.iter().map(|t| quote(t.to_string())).collect();
    let rules: Vec<String> = rule_files
        .iter()
        .map(|p| quote(p.display().to_string()))
        .collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{}]\n\
         scrape_configs:\n  - job_name: orderpulse\n    static_configs:\n      - targets: [{}]\n",
        rules.join(", "),
        targets.join(", ")
    )
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
