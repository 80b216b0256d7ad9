//! The dashboards error type: what stops the HTTP server from starting.

use std::net::SocketAddr;

/// The dashboards result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the HTTP server cannot start, or alerting cannot run.
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

    /// An alert receiver's URL or another alerting setting is unusable.
    #[error("{0}")]
    Config(String),

    /// Writing the `alerts` table failed.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Alerts that cannot be stored as rows (a malformed time).
    #[error("{0}")]
    Invalid(String),

    /// The address could not be bound (in use, no permission).
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
