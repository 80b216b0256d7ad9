//! Errors of the ingest crate. Bad input is never an `Error`: the decoder turns
//! it into a rejected record. These are for outside systems and configuration.

use std::path::{Path, PathBuf};

/// Result alias of the ingest crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the context an operator needs to act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user-key secret is missing or too weak.
    #[error("user key secret: {0}")]
    UserKeySecret(String),

    /// A Kafka client could not be created or an operation failed.
    #[error("kafka ({context})")]
    Kafka {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },

    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Writing or reading a Parquet file failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// Building an Arrow batch failed (a bug of ours).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// For `map_err`: an I/O failure on `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    }

    /// For `map_err`: a Kafka failure while doing `context`.
    pub fn kafka(context: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
        let context = context.into();
        move |source| Error::Kafka { context, source }
    }
}
