//! Child processes of the binary under test: a guard that kills one when
//! the test ends first, a free loopback port, and the simulator's summary.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use crate::support::http;

/// A child process killed (and reaped) if the test ends or panics first.
pub(crate) struct Running(pub(crate) Child);

impl Running {
    /// Waits until `GET /readyz` on `addr` answers 200; fails the test
    /// with the process's log after 30 s.
    #[track_caller]
    pub(crate) fn wait_ready(&self, addr: SocketAddr, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while http::get(addr, "/readyz", &[]).is_none_or(|r| r.status != 200) {
            assert!(
                Instant::now() < deadline,
                "/readyz never 200:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends SIGTERM and waits for the exit; fails the test with the
    /// process's log when it takes longer than `within`.
    #[track_caller]
    pub(crate) fn sigterm(&mut self, within: Duration, log: &Path) -> ExitStatus {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let stopped = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(
                stopped.elapsed() < within,
                "no exit within {within:?} of SIGTERM:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A loopback address nothing listens on right now.
pub(crate) fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// How many records `orderpulse simulate` says the brokers acknowledged
/// (its summary line on stderr); fails the test when it did not succeed.
#[track_caller]
pub(crate) fn acknowledged(out: &Output) -> u64 {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "simulate failed:\n{err}");
    let at = err.find(" acknowledged").expect("summary");
    err[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("acknowledged count")
}
