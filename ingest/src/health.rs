//! Readiness ([`Health`], shared with the HTTP side through `model`) and the
//! storage probe that feeds it.

pub use model::health::Health;

/// Checks that `dir` takes a new file: create, write, fsync, remove.
pub fn probe_storage(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(".orderpulse-write-probe");
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(b"probe")?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}
