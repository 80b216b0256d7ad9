//! [`EmbeddedBroker`]: librdkafka's mock cluster started in this process, for
//! `orderpulse demo` (Kafka with no setup) and for fault-injection tests.
//!
//! What it is, measured against librdkafka 2.12.1 (the one rdkafka 0.39
//! bundles; `rdkafka_mock.c`):
//! - **Listeners.** Every mock broker binds its own socket on `127.0.0.1`
//!   (`INADDR_LOOPBACK`, IPv4 only) on a port the kernel picks, and
//!   advertises `127.0.0.1:PORT` in metadata. Other processes on this machine
//!   can produce and consume through it (`orderpulse simulate --brokers
//!   ...`, other librdkafka or Java clients); other machines cannot.
//! - **Fixed port.** The mock cluster has no way to ask for a port. With
//!   [`EmbeddedOptions::bootstrap_port`] a small TCP forwarder listens on
//!   that port of 127.0.0.1 and relays to broker 1, so clients can bootstrap
//!   from a predictable address (e.g. `127.0.0.1:9092`, the CONTRACT default);
//!   metadata still names the brokers' own ports, which clients then use
//!   directly. When the port is taken,
//!   [`bootstrap_servers`](EmbeddedBroker::bootstrap_servers) falls back to
//!   the brokers' own list (see [`EmbeddedBroker::fixed_port`]).
//! - **Consumer groups.** The classic group protocol (join, sync, heartbeat,
//!   leave, static membership) with offset commit and fetch; the first
//!   rebalance of a group waits 3 s (`group.initial.rebalance.delay.ms`),
//!   sessions time out on the broker side, also while a broker is "down".
//!   Also produce (idempotent and transactional), fetch, ListOffsets with
//!   correct watermarks (unlike tansu 0.6), and automatic topic creation
//!   (4 partitions) on metadata requests and produce.
//! - **Not there.** The Admin API (CreateTopics and friends): topics are
//!   created with [`EmbeddedBroker::create_topic`]. No persistence: stopping
//!   the broker loses every topic, and a new one starts at offset 0 again.
//!   So a data directory written from one embedded broker must not be
//!   ingested again from another one under the same topic name: its files
//!   claim offsets the new topic reuses.
//! - **Limits.** Everything is kept in memory, and each partition keeps at
//!   most 5 MiB or 100 000 record batches: older batches are dropped (the
//!   log start offset moves, like size-based retention). At the simulator's
//!   default 100 events/s (~400 bytes each) three partitions hold roughly
//!   the last 6 minutes. The brokers set no message size limit (clients
//!   still apply their own `message.max.bytes`).
//! - **Faults.** [`broker_down`](EmbeddedBroker::broker_down) closes a
//!   broker's connections and refuses new ones (the port stays reserved);
//!   leadership does not move. [`request_errors`](EmbeddedBroker::request_errors)
//!   makes the next requests of one API fail with the given codes, in order
//!   (`RD_KAFKA_RESP_ERR__TRANSPORT` drops the connection instead).
//!
//! rdkafka's `MockCluster` holds a raw pointer, so it is neither `Send` nor
//! `Sync`. It lives on a thread of its own here, driven through a channel:
//! `EmbeddedBroker` is `Send + Sync` and can be shared with async tasks.

mod forward;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::{Error, Result};
use forward::Forwarder;

/// How to start an [`EmbeddedBroker`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Number of mock brokers (ids 1..=brokers).
    pub brokers: i32,
    /// A port of 127.0.0.1 to bootstrap from (see the module docs); `None`
    /// uses only the brokers' own kernel-picked ports.
    pub bootstrap_port: Option<u16>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            brokers: 1,
            bootstrap_port: None,
        }
    }
}

/// Which mock brokers a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brokers {
    All,
    /// One broker, by id (1-based).
    Id(i32),
}

impl Brokers {
    fn raw(self) -> i32 {
        match self {
            Brokers::All => -1,
            Brokers::Id(id) => id,
        }
    }
}

/// A command for the thread that owns the mock cluster.
enum Control {
    CreateTopic(String, i32),
    Down(Brokers),
    Up(Brokers),
    RequestErrors(RDKafkaApiKey, Vec<RDKafkaRespErr>),
    ClearRequestErrors(RDKafkaApiKey),
    RoundTrip(Brokers, Duration),
}

type Reply = mpsc::SyncSender<Result<()>>;

/// librdkafka's mock Kafka cluster on 127.0.0.1, stopped on drop. See the
/// module docs for what it supports and its limits.
///
/// ```no_run
/// use ingest::embedded::{EmbeddedBroker, EmbeddedOptions};
/// let broker = EmbeddedBroker::start(EmbeddedOptions::default())?;
/// broker.create_topic("order-attempts", 3)?;
/// broker.create_topic("order-attempts.dlq", 1)?;
/// println!("brokers: {}", broker.bootstrap_servers());
/// # Ok::<(), ingest::Error>(())
/// ```
pub struct EmbeddedBroker {
    control: Option<mpsc::Sender<(Control, Reply)>>,
    owner: Option<JoinHandle<()>>,
    /// The mock brokers' own `host:port` list.
    servers: String,
    forwarder: Option<Forwarder>,
    brokers: i32,
}

impl EmbeddedBroker {
    /// Starts the mock cluster (and the bootstrap forwarder if asked for and
    /// its port is free). Returns once every broker listens.
    pub fn start(options: EmbeddedOptions) -> Result<Self> {
        if !(1..=32).contains(&options.brokers) {
            return Err(Error::Config(format!(
                "embedded broker: {} brokers, expected 1 to 32",
                options.brokers
            )));
        }
        let (control, commands) = mpsc::channel::<(Control, Reply)>();
        let (ready, started) = mpsc::sync_channel::<Result<String>>(1);
        let brokers = options.brokers;
        let owner = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || own(brokers, &ready, &commands))
            .map_err(|e| Error::Config(format!("embedded broker: cannot start its thread: {e}")))?;
        let servers = started.recv().map_err(|_| stopped())??;
        let forwarder = match options.bootstrap_port {
            None => None,
            Some(port) => {
                let first = servers.split(',').next().unwrap_or_default().to_string();
                match Forwarder::start(port, &first) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        tracing::warn!(
                            port,
                            error = %e,
                            servers = %servers,
                            "embedded broker: bootstrap port unavailable, use the brokers' own ports"
                        );
                        None
                    }
                }
            }
        };
        tracing::info!(servers = %servers, brokers, "embedded Kafka broker started");
        Ok(Self {
            control: Some(control),
            owner: Some(owner),
            servers,
            forwarder,
            brokers,
        })
    }

    /// The `bootstrap.servers` value for clients: `127.0.0.1:PORT` of the
    /// forwarder when it runs, else the brokers' own comma-separated list.
    pub fn bootstrap_servers(&self) -> String {
        match &self.forwarder {
            Some(f) => format!("127.0.0.1:{}", f.port()),
            None => self.servers.clone(),
        }
    }

    /// The mock brokers' own `127.0.0.1:PORT` list, one per broker in id
    /// order (what metadata advertises).
    pub fn broker_servers(&self) -> &str {
        &self.servers
    }

    /// The port asked for in [`EmbeddedOptions::bootstrap_port`], if the
    /// forwarder got it.
    pub fn fixed_port(&self) -> Option<u16> {
        self.forwarder.as_ref().map(Forwarder::port)
    }

    /// How many mock brokers run.
    pub fn brokers(&self) -> i32 {
        self.brokers
    }

    /// Creates `name` with `partitions` partitions, replicated on up to
    /// three brokers. Creating an existing topic fails.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.send(Control::CreateTopic(name.to_string(), partitions))
    }

    /// Closes the brokers' connections and refuses new ones until
    /// [`broker_up`](Self::broker_up). Partition leadership does not move.
    pub fn broker_down(&self, which: Brokers) -> Result<()> {
        self.send(Control::Down(which))
    }

    /// Lets brokers taken down accept connections again.
    pub fn broker_up(&self, which: Brokers) -> Result<()> {
        self.send(Control::Up(which))
    }

    /// Makes the next `errors.len()` requests of `api` (on any broker) fail
    /// with these codes, in order. `RD_KAFKA_RESP_ERR__TRANSPORT` makes the
    /// broker drop the connection instead of answering.
    pub fn request_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) -> Result<()> {
        self.send(Control::RequestErrors(api, errors.to_vec()))
    }

    /// Forgets the errors still queued for `api`.
    pub fn clear_request_errors(&self, api: RDKafkaApiKey) -> Result<()> {
        self.send(Control::ClearRequestErrors(api))
    }

    /// Delays every response of these brokers by `delay` (zero restores).
    pub fn round_trip_time(&self, which: Brokers, delay: Duration) -> Result<()> {
        self.send(Control::RoundTrip(which, delay))
    }

    fn send(&self, command: Control) -> Result<()> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.control
            .as_ref()
            .ok_or_else(stopped)?
            .send((command, reply))
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // The forwarder first: it relays to the brokers about to go.
        self.forwarder.take();
        // Closing the channel ends the owner thread, which destroys the cluster.
        self.control.take();
        if let Some(owner) = self.owner.take()
            && owner.join().is_err()
        {
            tracing::error!("embedded broker: its thread panicked");
        }
    }
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("servers", &self.servers)
            .field("fixed_port", &self.fixed_port())
            .field("brokers", &self.brokers)
            .finish()
    }
}

/// The owner thread: creates the cluster, reports its bootstrap list, runs
/// commands until the channel closes, then destroys it (on drop).
fn own(
    brokers: i32,
    ready: &mpsc::SyncSender<Result<String>>,
    commands: &mpsc::Receiver<(Control, Reply)>,
) {
    let cluster = match MockCluster::new(brokers) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(Error::kafka("starting the embedded mock cluster")(e)));
            return;
        }
    };
    if ready.send(Ok(cluster.bootstrap_servers())).is_err() {
        return;
    }
    let replication = brokers.min(3);
    while let Ok((command, reply)) = commands.recv() {
        let result = match command {
            Control::CreateTopic(name, partitions) => cluster
                .create_topic(&name, partitions, replication)
                .map_err(Error::kafka(format!(
                    "creating topic {name} ({partitions} partitions)"
                ))),
            Control::Down(which) => cluster
                .broker_down(which.raw())
                .map_err(Error::kafka(format!("taking {which:?} down"))),
            Control::Up(which) => cluster
                .broker_up(which.raw())
                .map_err(Error::kafka(format!("bringing {which:?} up"))),
            Control::RequestErrors(api, errors) => {
                cluster.request_errors(api, &errors);
                Ok(())
            }
            Control::ClearRequestErrors(api) => {
                cluster.clear_request_errors(api);
                Ok(())
            }
            Control::RoundTrip(which, delay) => cluster
                .broker_round_trip_time(which.raw(), delay)
                .map_err(Error::kafka(format!("setting the round trip of {which:?}"))),
        };
        let _ = reply.send(result);
    }
}

fn stopped() -> Error {
    Error::kafka("the embedded broker has stopped")(KafkaError::MockCluster(
        RDKafkaErrorCode::BrokerDestroy,
    ))
}

#[cfg(test)]
mod tests;
