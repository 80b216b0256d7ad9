//! `orderpulse serve --runbooks FILE`: a user's runbooks replace the
//! built-in ones of the causes they name, on `GET /api/runbooks`; a missing,
//! malformed or oversized file stops `serve` at start-up with a message that
//! names the flag and the file. No broker is needed: HTTP answers while the
//! worker waits for one.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::http;
use crate::support::process::{Running, free_addr};

fn serve(runbooks: &Path, log: &Path, addr: std::net::SocketAddr) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderpulse"));
    cmd.arg("serve")
        // Nothing listens there: the worker retries, HTTP serves meanwhile.
        .args(["--brokers", &free_addr().to_string()])
        .args(["--http-addr", &addr.to_string(), "--pg-addr", ""])
        .args(["--data-dir", log.with_extension("data").to_str().unwrap()])
        .arg("--runbooks")
        .arg(runbooks)
        .env(
            "ORDERPULSE_USER_KEY_SECRET",
            "runbooks-test-secret-0123456789",
        )
        .env_remove("ORDERPULSE_API_TOKEN")
        .env_remove("ORDERPULSE_RUNBOOKS");
    cmd
}

#[test]
fn serve_refuses_a_broken_runbooks_file_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(&malformed, "[network_error]\ntitle = \"x\"\nsteps = [\n").unwrap();
    let no_steps = dir.path().join("no-steps.toml");
    std::fs::write(
        &no_steps,
        "[network_error]\ntitle = \"x\"\nsummary = \"\"\nsteps = []\n",
    )
    .unwrap();
    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, "#".repeat(2 << 20)).unwrap();
    let missing = dir.path().join("missing.toml");
    for (file, words) in [
        (&missing, "missing.toml"),
        (&malformed, "malformed.toml"),
        (&no_steps, "no steps"),
        (&huge, "at most"),
    ] {
        let out = serve(file, &log, free_addr())
            .stdout(Stdio::null())
            .output()
            .expect("run serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {err}", file.display());
        assert!(err.contains("--runbooks"), "{}: {err}", file.display());
        assert!(err.contains(words), "{}: {err}", file.display());
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn serve_shows_a_users_runbooks_over_the_builtin_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let file = dir.path().join("runbooks.toml");
    std::fs::write(
        &file,
        "[network_error]\ntitle = \"Call the NOC\"\nsummary = \"ours\"\n\
         steps = [\"Call +86 10 1234\"]\nowner = \"noc\"\n",
    )
    .unwrap();
    let addr = free_addr();
    let _serve = Running(
        serve(&file, &log, addr)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let books = loop {
        if let Some(r) = http::get(addr, "/api/runbooks", &[]) {
            assert_eq!(r.status, 200, "{}", r.text());
            break r.json();
        }
        assert!(
            Instant::now() < deadline,
            "serve never answered:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let books = books["runbooks"].as_array().unwrap();
    let mine = books
        .iter()
        .find(|b| b["failure_cause"] == "network_error")
        .unwrap();
    assert_eq!(mine["title"], "Call the NOC");
    assert_eq!(mine["owner"], "noc");
    // The causes the file does not name keep their built-in runbooks.
    let declined = books
        .iter()
        .find(|b| b["failure_cause"] == "payment_declined")
        .unwrap();
    assert!(
        declined["steps"].as_array().unwrap().len() >= 3,
        "{declined}"
    );
    assert!(books.len() >= 12, "{}", books.len());
}
