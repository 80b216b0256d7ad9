//! A TCP forwarder from a fixed port of 127.0.0.1 to one mock broker, so
//! clients can bootstrap from a predictable address (the mock cluster's own
//! ports are picked by the kernel). Plain threads: two per connection, few
//! connections (each client bootstraps once, then talks to the brokers'
//! advertised ports).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(25);
/// How long a connection to the broker behind may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Open connections by id: both sockets, to shut them down on stop.
type Open = Arc<Mutex<HashMap<u64, (TcpStream, TcpStream)>>>;

/// Relays 127.0.0.1:`port` to a broker until dropped.
pub(super) struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    open: Open,
    accept: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Binds 127.0.0.1:`port` (0 for any free port) and relays each
    /// connection to `target` (`host:port`).
    pub(super) fn start(port: u16, target: &str) -> io::Result<Self> {
        let target: SocketAddr = target.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("broker address {target:?}: {e}"),
            )
        })?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let open: Open = Arc::default();
        let accept = {
            let (stop, open) = (Arc::clone(&stop), Arc::clone(&open));
            std::thread::Builder::new()
                .name("embedded-kafka-forward".into())
                .spawn(move || accept_loop(&listener, target, &stop, &open))?
        };
        Ok(Self {
            port,
            stop,
            open,
            accept: Some(accept),
        })
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        if let Ok(open) = self.open.lock() {
            for (client, broker) in open.values() {
                let _ = client.shutdown(Shutdown::Both);
                let _ = broker.shutdown(Shutdown::Both);
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, stop: &AtomicBool, open: &Open) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                let id = NEXT.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = relay(id, client, target, open) {
                    tracing::debug!(error = %e, %target, "embedded broker forwarder: connection not relayed");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                tracing::warn!(error = %e, "embedded broker forwarder: accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Connects to the broker and copies both ways on two threads. A broker that
/// is down refuses the connection: the client's is closed, as if the
/// forwarder's port were the broker's.
fn relay(id: u64, client: TcpStream, target: SocketAddr, open: &Open) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let broker = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    client.set_nodelay(true)?;
    broker.set_nodelay(true)?;
    if let Ok(mut map) = open.lock() {
        map.insert(id, (client.try_clone()?, broker.try_clone()?));
    }
    let (client_in, broker_out) = (client.try_clone()?, broker.try_clone()?);
    let up = Arc::clone(open);
    std::thread::Builder::new()
        .name("embedded-kafka-relay".into())
        .spawn(move || {
            pump(client_in, broker_out);
            if let Ok(mut map) = up.lock() {
                map.remove(&id);
            }
        })?;
    std::thread::Builder::new()
        .name("embedded-kafka-relay".into())
        .spawn(move || pump(broker, client))?;
    Ok(())
}

/// Copies `from` into `to` until either side closes, then closes both so the
/// opposite direction ends too.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
