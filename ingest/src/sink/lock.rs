//! One writer per partition: an exclusive lock file per `(topic, partition)`
//! in the data directory, held from assignment until the partition's last
//! flush is stored.
//!
//! The consumer group decides who *should* own a partition, but a group can
//! briefly hand one partition to two members: a worker that has not yet heard
//! of a rebalance (a zombie on a real broker, or a coordinator that finishes a
//! round without every member, as tansu 0.6 does) keeps consuming and
//! flushing what the new owner also reads. The new owner takes the lock
//! before it reads from the files where to resume, so it resumes exactly
//! where the old owner's last flush ended, and never writes while the old
//! owner still can.
//!
//! The locks are `flock(2)` locks (`std::fs::File::try_lock`): released by the
//! kernel when the holder exits, even on SIGKILL, so a dead worker never
//! blocks the next. They are only as good as the file system's locking:
//! every worker sharing a data directory must run on the same host (or on a
//! file system with working `flock`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where the lock files live, under the data directory.
pub const LOCKS_DIR: &str = ".orderpulse-locks";

/// An exclusive claim on writing one partition; released on drop.
#[derive(Debug)]
pub struct PartitionLock {
    // Holding the open file holds the lock; closing it releases it.
    _file: File,
    partition: i32,
}

/// Whether a partition's lock was taken, or who holds it.
#[derive(Debug)]
pub enum Claim {
    Taken(PartitionLock),
    /// Another process (or another worker in this one) holds it; the holder
    /// as it described itself in the file (`pid=...`), if readable.
    HeldBy(String),
}

impl PartitionLock {
    /// The lock file of a partition.
    pub fn path(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
        data_dir
            .join(LOCKS_DIR)
            .join(format!("{topic}-p{partition}.lock"))
    }

    /// Takes the partition's lock if nobody holds it, without waiting.
    pub fn try_take(data_dir: &Path, topic: &str, partition: i32) -> Result<Claim> {
        let path = Self::path(data_dir, topic, partition);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the log of whoever waits for it.
                let me = format!("pid={}", std::process::id());
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(me.as_bytes()));
                Ok(Claim::Taken(Self {
                    _file: file,
                    partition,
                }))
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Ok(Claim::HeldBy(holder))
            }
            Err(TryLockError::Error(e)) => Err(Error::io(&path)(e)),
        }
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_has_one_holder_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Taken(first) = PartitionLock::try_take(dir.path(), "t", 3).unwrap() else {
            panic!("a free lock was not taken");
        };
        assert_eq!(first.partition(), 3);
        // A second claim (another open file, as another worker would have)
        // is refused and told who holds it.
        match PartitionLock::try_take(dir.path(), "t", 3).unwrap() {
            Claim::HeldBy(holder) => assert_eq!(holder, format!("pid={}", std::process::id())),
            Claim::Taken(_) => panic!("two holders of one partition"),
        }
        // Other partitions and topics are independent.
        assert!(matches!(
            PartitionLock::try_take(dir.path(), "t", 4).unwrap(),
            Claim::Taken(_)
        ));
        assert!(matches!(
            PartitionLock::try_take(dir.path(), "u", 3).unwrap(),
            Claim::Taken(_)
        ));
        drop(first);
        assert!(matches!(
            PartitionLock::try_take(dir.path(), "t", 3).unwrap(),
            Claim::Taken(_)
        ));
    }

    #[test]
    fn an_unwritable_data_dir_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = PartitionLock::try_take(&file, "t", 0).unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
