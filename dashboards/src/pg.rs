//! The Postgres wire protocol endpoint (`--pg-addr`, default
//! `127.0.0.1:5433`): psql, DBeaver, Metabase, Superset and Grafana's
//! PostgreSQL data source query the analytics tables with the guardrails of
//! every other SQL path.
//!
//! The protocol, the `pg_catalog` those tools browse (`\d`, `\dt`, JDBC
//! metadata) and the type mapping come from `datafusion-postgres` (pgwire
//! 0.41); [`guarded`] puts our guardrails in front of it:
//!
//! - every SQL text is checked before it is parsed ([`check_text`]: length,
//!   NUL bytes, nesting depth), so a 2 000-term `1+1+...+1` is an error, not
//!   a stack overflow in the Postgres-dialect parser;
//! - every statement is a query, SHOW or EXPLAIN ([`check_statement`]), or
//!   one of the harmless session statements drivers send at connect (`SET
//!   datestyle`, `SET extra_float_digits`, `SET application_name`, `SET
//!   client_encoding`, `SET TIME ZONE`, `BEGIN`/`COMMIT`/`ROLLBACK`...),
//!   accepted and answered without touching the shared context; anything
//!   else (DDL, DML, `COPY`, `SET datafusion.*`, cursors) is refused with
//!   SQLSTATE `25006` and a clear message;
//! - queries run through [`Analytics::run_plan`]: the memory pool, the time
//!   limit with cancellation (`57014`), the concurrency cap and the result
//!   caps (`54000`), on the analytics query runtime.
//!
//! Auth: with a token (`ORDERPULSE_API_TOKEN`), clients log in with any user
//! name and the token as the password (cleartext password exchange: keep
//! the port on loopback or behind TLS); without one, any login is accepted
//! and only a loopback address may be bound.
//!
//! [`check_text`]: analytics::guard::check_text
//! [`check_statement`]: analytics::guard::check_statement

mod guarded;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use analytics::Analytics;
use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::process_socket;
use futures::Sink;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use guarded::GuardedService;

/// Connections served at once; one more is closed at once (and logged).
pub const MAX_CONNECTIONS: usize = 64;

/// The catalog the tables live in (DataFusion's default); `pg_catalog`
/// reports it as the database, whatever `dbname` the client sent.
const CATALOG: &str = "datafusion";

/// Binds `addr` and serves the Postgres wire protocol over `analytics` until
/// `shutdown` is cancelled (open connections are closed then too). Returns
/// the bound address (port 0 picks a free one) and the server task.
///
/// With `token`, clients must send it as the password. Without one, a
/// non-loopback `addr` is refused, like the HTTP API.
pub async fn serve(
    addr: SocketAddr,
    analytics: Analytics,
    token: Option<String>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let token = token.filter(|t| !t.is_empty());
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "refusing to serve the Postgres wire on non-loopback {addr} without a token: \
                 set ORDERPULSE_API_TOKEN (clients send it as the password)"
            ),
        ));
    }
    let ctx = analytics.session().map_err(std::io::Error::other)?;
    setup_pg_catalog(&ctx, CATALOG, EmptyContextProvider).map_err(std::io::Error::other)?;
    let handlers = Arc::new(Handlers {
        service: Arc::new(GuardedService::new(analytics, Arc::new(ctx))),
        startup: Arc::new(match token {
            Some(token) => Startup::Password(Box::new(CleartextPasswordAuthStartupHandler::new(
                TokenSource(token),
                DefaultServerParameterProvider::default(),
            ))),
            None => Startup::Open(OpenStartup),
        }),
    });
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "Postgres wire endpoint listening");
    let task = tokio::spawn(accept_loop(listener, handlers, shutdown));
    Ok((bound, task))
}

async fn accept_loop(listener: TcpListener, handlers: Arc<Handlers>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (socket, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "Postgres wire: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "Postgres wire: {MAX_CONNECTIONS} connections open, closing a new one");
            continue;
        };
        let handlers = handlers.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                () = shutdown.cancelled() => {}
                served = process_socket(socket, None, handlers) => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "Postgres wire connection ended");
                    }
                }
            }
        });
    }
    tracing::info!("Postgres wire endpoint stopped");
}

/// The pgwire handlers: our guarded service and the login.
struct Handlers {
    service: Arc<GuardedService>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// The login: open (loopback without a token) or the token as password.
enum Startup {
    Open(OpenStartup),
    Password(Box<CleartextPasswordAuthStartupHandler<TokenSource, DefaultServerParameterProvider>>),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Open(open) => open.on_startup(client, message).await,
            Startup::Password(password) => password.on_startup(client, message).await,
        }
    }
}

/// Accepts every login (only ever bound to loopback).
struct OpenStartup;

impl NoopStartupHandler for OpenStartup {}

/// The API token is every user's password.
struct TokenSource(String);

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSource(<redacted>)")
    }
}

#[async_trait]
impl AuthSource for TokenSource {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(None, self.0.as_bytes().to_vec()))
    }
}
