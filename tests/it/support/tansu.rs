//! [`TansuBroker`]: a real Kafka-protocol broker process for one test.
//!
//! Each broker is its own `tansu broker` child process on a free port of
//! 127.0.0.1 with in-memory storage, so tests never share state and can run
//! in parallel. Its stdout and stderr go to a log file in a scratch
//! directory; a test that panics while a broker is alive gets the log's tail
//! printed and the directory kept, so a failure shows what the broker saw.
//!
//! What tansu 0.6 gets wrong (see `../shared/BROKER-NOTES.md`): ListOffsets
//! and the high watermark in fetch responses are unreliable, so tests must
//! never assert record lag, high watermarks or "seek to latest" against it.
//! Those belong on librdkafka's mock cluster.

use std::fs::{self, File};
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use std::{env, process, thread};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::metadata::Metadata;

/// The version the harness is written and measured against.
const TANSU_VERSION: &str = "0.6.0";
/// How long a broker may take to answer a metadata request after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a created topic may take to show all its partitions in metadata.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts to start a broker when another process takes its port first.
const START_ATTEMPTS: u32 = 5;
/// Lines of broker log shown with a failure.
const LOG_TAIL_LINES: usize = 60;

/// A running `tansu broker` with in-memory storage, stopped on drop.
///
/// ```ignore
/// let broker = TansuBroker::start();
/// broker.create_topic("orders", 3);
/// let producer: FutureProducer = broker.client_config().set("acks", "all").create()?;
/// ```
pub(crate) struct TansuBroker {
    child: Child,
    port: u16,
    scratch: ScratchDir,
}

impl TansuBroker {
    /// Starts a broker on a free port and waits until it answers a metadata
    /// request. Panics, with the broker log, if it cannot be started; panics
    /// with install instructions if `tansu` is not installed.
    #[track_caller]
    pub(crate) fn start() -> Self {
        let binary = tansu_binary();
        let mut scratch = ScratchDir::new();
        let log = scratch.path().join("broker.log");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let mut child = spawn_broker(binary, &scratch, &log, port);
            match wait_until_ready(&mut child, port, &log) {
                Ok(()) => {
                    return Self {
                        child,
                        port,
                        scratch,
                    };
                }
                Err(Startup::Exited(status)) if port_was_taken(&log) => {
                    eprintln!(
                        "tansu: port {port} was taken before the broker bound it \
                         ({status}); retrying with another port (attempt {attempt})"
                    );
                }
                Err(failure) => {
                    stop(&mut child);
                    scratch.keep();
                    panic!(
                        "tansu broker on 127.0.0.1:{port} did not start: {failure}\n\
                         broker log ({}):\n{}",
                        log.display(),
                        tail(&log, LOG_TAIL_LINES)
                    );
                }
            }
        }
        scratch.keep();
        panic!(
            "tansu broker: every one of {START_ATTEMPTS} free ports was taken before the \
             broker could bind it; last log ({}):\n{}",
            log.display(),
            tail(&log, LOG_TAIL_LINES)
        );
    }

    /// The `bootstrap.servers` value for clients: `127.0.0.1:PORT`.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client configuration with `bootstrap.servers` pointing at this
    /// broker; add the producer or consumer settings the test needs.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    /// Creates `name` with `partitions` partitions (tansu does not
    /// auto-create topics) and waits until metadata shows every partition
    /// with a leader, so a producer started right after can use all of them.
    #[track_caller]
    pub(crate) fn create_topic(&self, name: &str, partitions: i32) {
        let url = format!("tcp://{}", self.bootstrap());
        let partitions_arg = partitions.to_string();
        let args = [
            "topic",
            "create",
            "--broker",
            &url,
            "--partitions",
            &partitions_arg,
            name,
        ];
        let output = run_to_completion(tansu_binary(), &args, self.scratch.path(), TOPIC_TIMEOUT);
        if !output.status.success() {
            panic!(
                "`tansu {}` failed ({}):\n{}\nbroker log:\n{}",
                args.join(" "),
                output.status,
                output.text,
                self.log_tail()
            );
        }

        let client = self.metadata_client();
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        let mut last = String::from("no metadata yet");
        while Instant::now() < deadline {
            match client.fetch_metadata(Some(name), Duration::from_secs(2)) {
                Ok(metadata) => match topic_readiness(&metadata, name, partitions) {
                    Ok(()) => return,
                    Err(why) => last = why,
                },
                Err(error) => last = format!("metadata request failed: {error}"),
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "topic {name:?} ({partitions} partitions) was created but its metadata \
             was not ready after {TOPIC_TIMEOUT:?}: {last}\nbroker log:\n{}",
            self.log_tail()
        );
    }

    /// Where the broker's stdout and stderr go.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.scratch.path().join("broker.log")
    }

    /// The last lines of the broker log, for a test's own failure messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log_path(), LOG_TAIL_LINES)
    }

    fn metadata_client(&self) -> BaseConsumer {
        metadata_client(self.port)
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let exited_early = self.child.try_wait().ok().flatten();
        stop(&mut self.child);
        if thread::panicking() {
            self.scratch.keep();
            let early = exited_early
                .map(|status| format!(" (the broker had already exited: {status})"))
                .unwrap_or_default();
            eprintln!(
                "--- tansu broker log {}{early}, last {LOG_TAIL_LINES} lines ---\n{}\n--- end of broker log ---",
                self.log_path().display(),
                self.log_tail()
            );
        }
    }
}

/// Why a broker did not become ready.
enum Startup {
    Exited(ExitStatus),
    TimedOut(String),
}

impl std::fmt::Display for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(status) => write!(f, "the process exited ({status})"),
            Self::TimedOut(last) => write!(
                f,
                "no metadata answer within {READY_TIMEOUT:?}; last attempt: {last}"
            ),
        }
    }
}

/// Finds `tansu`: `$TANSU` if set, then `PATH`, then `$CARGO_HOME/bin` and
/// `~/.cargo/bin`. A missing broker fails the test: it never passes quietly.
fn tansu_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = env::var_os("TANSU") {
            let path = PathBuf::from(path);
            if !path.is_file() {
                panic!(
                    "$TANSU is {}, which is not a file.\n{}",
                    path.display(),
                    install_hint()
                );
            }
            return path;
        }
        let path_dirs = env::var_os("PATH")
            .map(|paths| env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default();
        let cargo_home = env::var_os("CARGO_HOME").map(|home| PathBuf::from(home).join("bin"));
        let home = env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
        path_dirs
            .into_iter()
            .chain(cargo_home)
            .chain(home)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "this test needs the tansu Kafka broker, which is not installed \
                     (looked in $TANSU, PATH, $CARGO_HOME/bin and ~/.cargo/bin).\n{}",
                    install_hint()
                )
            })
    })
}

fn install_hint() -> String {
    format!(
        "Install tansu {TANSU_VERSION} (15-30 minutes the first time):\n    \
         cargo install tansu --version {TANSU_VERSION} --locked --features dynostore\n\
         or run `.ci/run`, which installs everything the tests need."
    )
}

/// A port on 127.0.0.1 that was free a moment ago. Another process can take
/// it before the broker binds it; [`TansuBroker::start`] retries then.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|error| panic!("cannot bind a free port on 127.0.0.1: {error}"));
    listener
        .local_addr()
        .unwrap_or_else(|error| panic!("cannot read the bound port: {error}"))
        .port()
}

fn spawn_broker(binary: &Path, scratch: &ScratchDir, log: &Path, port: u16) -> Child {
    let url = format!("tcp://127.0.0.1:{port}");
    let stdout = File::create(log)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", log.display()));
    let stderr = stdout
        .try_clone()
        .unwrap_or_else(|error| panic!("cannot share {}: {error}", log.display()));
    command(binary, scratch.path())
        .args(["broker", "--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()))
}

/// A `tansu` command isolated from the caller's environment: tansu reads a
/// `.env` file in its working directory and several settings from env vars
/// (`LISTENER_URL`, `STORAGE_ENGINE`, ...), so it runs in the scratch
/// directory with those removed. It stays in the test's process group, so a
/// test runner that kills a hung test's group (nextest does) kills it too.
fn command(binary: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    // tansu's logs carry colour codes even into a file unless told not to.
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1");
    for var in [
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "DATA_LAKE",
    ] {
        command.env_remove(var);
    }
    command
}

/// Waits until the broker on `port` has logged that it bound its listener
/// and answers a metadata request advertising that port, or exits, or times
/// out. The log line matters: if another process took the port first, tansu
/// logs `AddrInUse` and exits (with status 0), and meanwhile whatever holds
/// the port (maybe another test's broker) would answer in its place.
fn wait_until_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), Startup> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut client = None;
    let mut last = String::from("nothing tried yet");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Startup::Exited(status));
        }
        // A plain connect first: librdkafka backs off between reconnects,
        // which would slow down every start by up to a second.
        if let Err(error) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            last = format!("connect to {address}: {error}");
            thread::sleep(Duration::from_millis(25));
            continue;
        }
        let client = client.get_or_insert_with(|| metadata_client(port));
        match client.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(metadata)
                if metadata
                    .brokers()
                    .iter()
                    .any(|b| b.port() == i32::from(port)) =>
            {
                if log_says_ready(log) {
                    return Ok(());
                }
                last = "metadata answered, but the broker has not logged `ready` yet".into();
            }
            Ok(metadata) => {
                last = format!(
                    "metadata names brokers {:?}, not port {port}",
                    metadata
                        .brokers()
                        .iter()
                        .map(|b| format!("{}:{}", b.host(), b.port()))
                        .collect::<Vec<_>>()
                );
            }
            Err(error) => last = format!("metadata request: {error}"),
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(Startup::TimedOut(last))
}

fn metadata_client(port: u16) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap_or_else(|error| panic!("cannot create a metadata client: {error}"))
}

/// `Ok` once `topic` has `partitions` partitions, each with a leader.
fn topic_readiness(metadata: &Metadata, topic: &str, partitions: i32) -> Result<(), String> {
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("metadata does not list topic {topic:?}"))?;
    if let Some(error) = found.error() {
        return Err(format!("topic error {error:?}"));
    }
    let listed = found.partitions();
    if listed.len() != usize::try_from(partitions).unwrap_or(usize::MAX) {
        return Err(format!(
            "{} of {partitions} partitions listed",
            listed.len()
        ));
    }
    match listed
        .iter()
        .find(|p| p.error().is_some() || p.leader() < 0)
    {
        Some(p) => Err(format!(
            "partition {} has leader {} and error {:?}",
            p.id(),
            p.leader(),
            p.error()
        )),
        None => Ok(()),
    }
}

/// tansu 0.6 prints `ready in Nms` right after binding its listener.
fn log_says_ready(log: &Path) -> bool {
    fs::read_to_string(log).is_ok_and(|text| text.lines().any(|line| line.starts_with("ready in")))
}

fn port_was_taken(log: &Path) -> bool {
    let text = fs::read_to_string(log).unwrap_or_default();
    text.contains("Address already in use") || text.contains("AddrInUse")
}

/// Kills the broker and reaps it, so no test leaves an orphan behind.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

struct Output {
    status: ExitStatus,
    text: String,
}

/// Runs a short `tansu` command with stdout and stderr into one file, killing
/// it if it outlives `timeout`.
fn run_to_completion(binary: &Path, args: &[&str], dir: &Path, timeout: Duration) -> Output {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let path = dir.join(format!(
        "command-{}.log",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let out = File::create(&path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|error| panic!("cannot share {}: {error}", path.display()));
    let mut child = command(binary, dir)
        .args(args)
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                stop(&mut child);
                panic!(
                    "`tansu {}` did not finish within {timeout:?}:\n{}",
                    args.join(" "),
                    tail(&path, LOG_TAIL_LINES)
                );
            }
            Err(error) => panic!("cannot wait for `tansu {}`: {error}", args.join(" ")),
        }
    };
    Output {
        status,
        text: tail(&path, LOG_TAIL_LINES),
    }
}

/// The last `lines` lines of a log file (lossy UTF-8).
fn tail(path: &Path, lines: usize) -> String {
    let mut bytes = Vec::new();
    if let Err(error) = File::open(path).and_then(|mut file| file.read_to_end(&mut bytes)) {
        return format!("(cannot read {}: {error})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A per-broker scratch directory, removed on drop unless [`keep`] was
/// called (a failing test keeps it for the log).
///
/// [`keep`]: ScratchDir::keep
struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = env::temp_dir().join(format!(
            "orderpulse-tansu-{}-{}",
            process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover from an earlier process with the same pid.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        Self { path, keep: false }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
