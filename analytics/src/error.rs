//! The analytics error type. Every variant says whose mistake it is:
//! [`Error::is_user_error`] is true for bad SQL, refused statements, bad
//! parameters and tripped guardrails (a 4xx over HTTP), false for our own
//! failures (a 5xx).

use std::path::PathBuf;
use std::time::Duration;

use datafusion::error::DataFusionError;

/// The analytics result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a query, a saved query or the data directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL does not parse, names an unknown table or column, or fails
    /// while running (DataFusion's message).
    #[error("{0}")]
    Sql(#[source] Box<DataFusionError>),

    /// The SQL does not parse.
    #[error("{0}")]
    Syntax(String),

    /// The statement is valid SQL but not a read-only query.
    #[error(
        "refused: {0} (SQL here is read-only: one SELECT, WITH, VALUES, SHOW or EXPLAIN query)"
    )]
    ReadOnly(String),

    /// A guardrail stopped the query (size, depth, rows, bytes, memory).
    #[error("refused: {0}")]
    Limit(String),

    /// The query ran longer than the time limit and was cancelled.
    #[error("query cancelled after the {}-second time limit", .0.as_secs_f64())]
    Timeout(Duration),

    /// No saved query has this name.
    #[error("no saved query named `{0}` (orderpulse query --list shows them)")]
    UnknownQuery(String),

    /// A parameter is unknown to the saved query or its value is malformed.
    #[error("saved query `{query}`: parameter `{param}`: {message}")]
    Param {
        query: String,
        param: String,
        message: String,
    },

    /// A saved query file is broken: bad header, or it does not plan.
    #[error("saved query `{name}` ({origin}): {message}")]
    SavedQuery {
        name: String,
        origin: String,
        message: String,
    },

    /// Reading the data directory or a queries directory failed.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The query runtime could not be built or the query task died.
    #[error("query runtime: {0}")]
    Runtime(String),

    /// The rollup could not read a stored file (see [`crate::rollup`]).
    #[error("rollup: {0}")]
    Rollup(String),
}

impl Error {
    /// Builds an [`Error::Io`] for `path`, for `map_err`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// True when the caller's input is at fault (HTTP 4xx), false for ours.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Sql(e) => !matches!(
                e.find_root(),
                DataFusionError::Internal(_)
                    | DataFusionError::IoError(_)
                    | DataFusionError::ObjectStore(_)
                    | DataFusionError::ParquetError(_)
            ),
            Error::Syntax(_)
            | Error::ReadOnly(_)
            | Error::Limit(_)
            | Error::Timeout(_)
            | Error::UnknownQuery(_)
            | Error::Param { .. } => true,
            Error::SavedQuery { .. } | Error::Io { .. } | Error::Runtime(_) | Error::Rollup(_) => {
                false
            }
        }
    }
}

impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        // A memory pool refusal is a guardrail, not a SQL mistake.
        if let DataFusionError::ResourcesExhausted(msg) = e.find_root() {
            return Error::Limit(format!(
                "the query needs more memory than the query memory limit allows ({})",
                first_line(msg)
            ));
        }
        if let DataFusionError::SQL(parse, _) = e.find_root() {
            return Error::Syntax(parse.to_string());
        }
        Error::Sql(Box::new(e))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
