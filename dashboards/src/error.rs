//! The dashboards error type: what stops the HTTP server from starting.

use std::net::SocketAddr;

/// The dashboards result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the HTTP server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A non-loopback address without an API token would expose every
    /// order attempt to whoever reaches the port.
    #[error(
        "refusing to serve the API on {0} without a token: set ORDERPULSE_API_TOKEN to a \
         long random string (e.g. `export ORDERPULSE_API_TOKEN=$(openssl rand -hex 32)`), \
         or bind 127.0.0.1"
    )]
    UnprotectedBind(SocketAddr),

    /// The address could not be bound (in use, no permission).
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
