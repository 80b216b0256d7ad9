//! Child processes of the binary under test: a guard that kills one when
//! the test ends first, a free loopback port, and the simulator's summary.

use std::net::SocketAddr;
use std::process::{Child, Output};

/// A child process killed (and reaped) if the test ends or panics first.
pub(crate) struct Running(pub(crate) Child);

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
