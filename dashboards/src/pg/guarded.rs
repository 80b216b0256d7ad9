//! [`GuardedService`]: `datafusion-postgres`'s session service with our
//! guardrails in front. Texts are checked before the Postgres-dialect
//! parser sees them; [`GuardHook`], the first query hook, sorts every parsed
//! statement ([`verdict`]) and runs queries through [`Analytics::run_plan`];
//! the crate's own hooks answer the session statements we let through.

use std::fmt;
use std::sync::Arc;

use analytics::guard::{check_statement, check_text};
use analytics::{Analytics, QueryOutput};
use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, StreamExt, stream};

/// What `datafusion-postgres` keeps per prepared statement.
type PgStatement = (String, Option<(Statement, LogicalPlan)>);

/// Session settings drivers send that the crate's `SET` hook answers per
/// connection (ParameterStatus, client metadata), never touching the
/// shared context.
const PASSED_SETTINGS: &[&str] = &[
    "application_name",
    "bytea_output",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
    "statement_timeout",
];

/// Session settings drivers send that we accept and ignore (the crate would
/// hand them to DataFusion, which could change the context every
/// connection shares).
const IGNORED_SETTINGS: &[&str] = &[
    "client_encoding",
    "client_min_messages",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "standard_conforming_strings",
    "timezone",
];

/// What happens to one parsed statement.
#[derive(Debug)]
pub(super) enum Verdict {
    /// A query, SHOW or EXPLAIN: run under the guardrails.
    Run,
    /// A session statement the crate's own hooks answer per connection.
    PassOn,
    /// A harmless session `SET`: answered `SET`, nothing changes.
    Ignore,
    /// Refused, with the reason.
    Refuse(analytics::Error),
}

/// Sorts one statement parsed by the Postgres-dialect parser.
pub(super) fn verdict(statement: &Statement) -> Verdict {
    match statement {
        Statement::Set(set) => set_verdict(set, statement),
        Statement::ShowVariable { .. } | Statement::ShowStatus { .. } => Verdict::PassOn,
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Verdict::PassOn,
        _ => match check_statement(&DFStatement::Statement(Box::new(statement.clone()))) {
            Ok(()) => Verdict::Run,
            Err(e) => Verdict::Refuse(e),
        },
    }
}

fn set_verdict(set: &Set, statement: &Statement) -> Verdict {
    match set {
        Set::SingleAssignment {
            scope: None,
            hivevar: false,
            variable,
            ..
        } => {
            let name = variable.to_string().to_lowercase();
            if PASSED_SETTINGS.contains(&name.as_str()) {
                Verdict::PassOn
            } else if IGNORED_SETTINGS.contains(&name.as_str()) {
                Verdict::Ignore
            } else {
                refuse_set(&name)
            }
        }
        Set::SetTimeZone { local: false, .. } => Verdict::PassOn,
        Set::SetNames { .. } | Set::SetNamesDefault {} => Verdict::Ignore,
        _ => {
            let text = statement.to_string().to_uppercase();
            if text.starts_with("SET SESSION CHARACTERISTICS AS TRANSACTION")
                || text.starts_with("SET TRANSACTION")
            {
                Verdict::Ignore
            } else {
                refuse_set(&text)
            }
        }
    }
}

fn refuse_set(what: &str) -> Verdict {
    Verdict::Refuse(analytics::Error::ReadOnly(format!(
        "`SET {what}`: only the session settings drivers send ({}, {}, TIME ZONE, NAMES) are accepted",
        PASSED_SETTINGS.join(", "),
        IGNORED_SETTINGS.join(", ")
    )))
}

/// An analytics error as a Postgres error with a fitting SQLSTATE.
pub(super) fn pg_error(e: analytics::Error) -> PgWireError {
    let code = match &e {
        analytics::Error::Syntax(_) => "42601",
        analytics::Error::ReadOnly(_) => "25006",
        analytics::Error::Limit(_) => "54000",
        analytics::Error::Timeout(_) => "57014",
        e if e.is_user_error() => "42000",
        _ => "XX000",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        e.to_string(),
    )))
}

/// A query's result as rows in `format`, encoded as the client reads them.
fn respond(
    out: QueryOutput,
    format: &Format,
    client: &(impl ClientInfo + ?Sized),
) -> PgWireResult<Response> {
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields: Arc<Vec<FieldInfo>> = Arc::new(arrow_schema_to_pg_fields(
        &out.schema,
        format,
        Some(options),
    )?);
    let encode = fields.clone();
    let rows = stream::iter(out.batches)
        .flat_map(move |batch| stream::iter(encode_recordbatch(encode.clone(), batch)));
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// The session service: checks every text, then `datafusion-postgres`'s
/// service with [`GuardHook`] first among its hooks.
pub(super) struct GuardedService {
    analytics: Analytics,
    ctx: Arc<SessionContext>,
    inner: DfSessionService,
    parser: Arc<GuardedParser>,
}

impl GuardedService {
    pub(super) fn new(analytics: Analytics, ctx: Arc<SessionContext>) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(GuardHook {
                analytics: analytics.clone(),
            }),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let inner = DfSessionService::new_with_hooks(ctx.clone(), hooks);
        let parser = Arc::new(GuardedParser {
            analytics: analytics.clone(),
            inner: ExtendedQueryHandler::query_parser(&inner),
        });
        GuardedService {
            analytics,
            ctx,
            inner,
            parser,
        }
    }

    /// Runs a prepared query with the portal's parameters and formats.
    async fn run_portal<C>(
        &self,
        client: &C,
        plan: &LogicalPlan,
        portal: &Portal<PgStatement>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ?Sized,
    {
        let params = plan.get_parameter_types().map_err(|e| pg_error(e.into()))?;
        let mut ordered: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = params
            .into_iter()
            .map(|(id, ty)| (id.trim_start_matches('$').parse().unwrap_or(usize::MAX), ty))
            .collect();
        ordered.sort_by_key(|(n, _)| *n);
        let types: Vec<_> = ordered.iter().map(|(_, ty)| ty.as_ref()).collect();
        let values: ParamValues = deserialize_parameters(portal, &types)?;
        let plan = plan
            .clone()
            .replace_params_with_values(&values)
            .map_err(|e| pg_error(e.into()))?;
        let out = self
            .analytics
            .run_plan(self.ctx.as_ref().clone(), plan)
            .await
            .map_err(pg_error)?;
        respond(out, &portal.result_column_format, client)
    }
}

#[async_trait]
impl SimpleQueryHandler for GuardedService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        check_text(query, self.analytics.limits()).map_err(pg_error)?;
        SimpleQueryHandler::do_query(&self.inner, client, query).await
    }
}

#[async_trait]
impl ExtendedQueryHandler for GuardedService {
    type Statement = PgStatement;
    type QueryParser = GuardedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let (_, Some((statement, plan))) = &portal.statement.statement {
            match verdict(statement) {
                Verdict::Run => return self.run_portal(client, plan, portal).await,
                Verdict::Refuse(e) => return Err(pg_error(e)),
                Verdict::PassOn | Verdict::Ignore => {}
            }
        }
        ExtendedQueryHandler::do_query(&self.inner, client, portal, max_rows).await
    }
}

/// The crate's parser behind the text checks.
pub(super) struct GuardedParser {
    analytics: Analytics,
    inner: Arc<Parser>,
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = PgStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        check_text(sql, self.analytics.limits()).map_err(pg_error)?;
        self.inner.parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(stmt, column_format)
    }
}

/// First among the hooks: refuses what is not allowed, answers ignored
/// `SET`s, runs queries under the guardrails, and leaves session statements
/// to the crate's hooks.
struct GuardHook {
    analytics: Analytics,
}

#[async_trait]
impl QueryHook for GuardHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match verdict(statement) {
            Verdict::Run => {}
            Verdict::PassOn => return None,
            Verdict::Ignore => return Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::Refuse(e) => return Some(Err(pg_error(e))),
        }
        let run = async {
            let plan = ctx
                .state()
                .statement_to_plan(DFStatement::Statement(Box::new(statement.clone())))
                .await
                .map_err(|e| pg_error(e.into()))?;
            let out = self
                .analytics
                .run_plan(ctx.clone(), plan)
                .await
                .map_err(pg_error)?;
            respond(out, &Format::UnifiedText, &*client)
        };
        Some(run.await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match verdict(statement) {
            Verdict::Refuse(e) => Some(Err(pg_error(e))),
            Verdict::Run | Verdict::PassOn | Verdict::Ignore => None,
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match verdict(statement) {
            Verdict::PassOn => None,
            Verdict::Ignore => Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::Refuse(e) => Some(Err(pg_error(e))),
            // GuardedService::do_query runs queries itself (it has the
            // portal's formats); never let one through unguarded.
            Verdict::Run => Some(Err(pg_error(analytics::Error::Runtime(
                "a prepared query reached the unguarded path".into(),
            )))),
        }
    }
}
