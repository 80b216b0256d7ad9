//! Guardrails every query path shares (CLI, HTTP, Postgres wire): what a
//! query may be, how big and deep its text may be, and how much it may use.
//!
//! The checks on the text run before anything is planned, in this order:
//! length, NUL bytes, nesting depth counted on the token stream (linear, no
//! recursion, so a 2 000-term `1+1+...+1` or 100 000 `(` cost nothing), then
//! the parser with a recursion limit, then the statement kind (one query),
//! then DataFusion's [`SQLOptions`] on the logical plan. The resource limits
//! (memory pool, time, result rows and bytes) are applied by the engine.

use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::{Error, Result};

/// The limits every query runs under. [`Limits::default`] suits one
/// analyst's machine; a server sets its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest SQL text accepted, in bytes.
    pub max_sql_bytes: usize,
    /// Deepest expression accepted: parentheses plus operators chained at
    /// one level (`1+1+1` is 2 deep, `((1))` is 2 deep).
    pub max_nesting: usize,
    /// The SQL parser's recursion limit (a second net under `max_nesting`).
    pub parser_recursion: usize,
    /// Memory all running queries may hold together (DataFusion memory pool).
    /// Nothing spills to disk: a query over the limit fails.
    pub memory_bytes: usize,
    /// Time a query may run, planning included, before it is cancelled.
    pub timeout: Duration,
    /// Most rows a result may have.
    pub max_rows: usize,
    /// Most bytes (Arrow memory) a result may have.
    pub max_result_bytes: usize,
    /// Threads of the query runtime (0: one per core).
    pub threads: usize,
    /// Queries running at once; more wait for a turn, and the wait counts
    /// against their time limit.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sql_bytes: 100_000,
            max_nesting: 256,
            parser_recursion: 64,
            memory_bytes: 2 << 30,
            timeout: Duration::from_secs(30),
            max_rows: 1_000_000,
            max_result_bytes: 256 << 20,
            threads: 0,
            max_concurrent: 8,
        }
    }
}

/// DataFusion's own read-only check, applied to every logical plan.
pub(crate) fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Checks `sql` against the text limits (length, NUL bytes, nesting depth)
/// without parsing it. For a path that parses with its own parser (the
/// Postgres wire's dialect) and must refuse a hostile text before that
/// parser's recursion can overflow the stack; [`check_statement`] then checks
/// what it parsed.
pub fn check_text(sql: &str, limits: &Limits) -> Result<()> {
    checked_tokens(sql, limits).map(drop)
}

/// Refuses every statement but a query (SELECT, WITH, VALUES), SHOW, or an
/// EXPLAIN of one: the statement check of [`crate::Analytics::sql`], for a
/// path that parses SQL itself.
pub fn check_statement(statement: &DFStatement) -> Result<()> {
    check_kind(statement)
}

/// The tokens of `sql` once it passes the text limits.
fn checked_tokens(
    sql: &str,
    limits: &Limits,
) -> Result<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Error::Limit(format!(
            "the SQL is {} bytes, over the {}-byte limit",
            sql.len(),
            limits.max_sql_bytes
        )));
    }
    if sql.contains('\0') {
        return Err(Error::Limit("the SQL contains a NUL byte".into()));
    }
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| Error::Sql(Box::new(DataFusionError::SQL(Box::new(e.into()), None))))?;
    let depth = nesting_depth(tokens.iter().map(|t| &t.token));
    if depth > limits.max_nesting {
        return Err(Error::Limit(format!(
            "the SQL nests expressions {depth} deep, over the limit of {}",
            limits.max_nesting
        )));
    }
    Ok(tokens)
}

/// Checks `sql` against the text limits and parses it into exactly one
/// read-only statement.
pub(crate) fn parse_read_only(sql: &str, limits: &Limits) -> Result<DFStatement> {
    let tokens = checked_tokens(sql, limits)?;
    let mut parser = DFParserBuilder::new(tokens)
        .with_recursion_limit(limits.parser_recursion)
        .build()?;
    let mut statements = parser.parse_statements().map_err(|e| {
        if e.to_string().contains("Recursion limit exceeded") {
            Error::Limit(format!(
                "the SQL nests deeper than the parser limit of {}",
                limits.parser_recursion
            ))
        } else {
            Error::from(e)
        }
    })?;
    if statements.len() > 1 {
        return Err(Error::ReadOnly(format!(
            "{} statements; send one at a time",
            statements.len()
        )));
    }
    let statement = statements
        .pop_front()
        .ok_or_else(|| Error::ReadOnly("the SQL holds no statement".into()))?;
    check_kind(&statement)?;
    Ok(statement)
}

/// Only a query (or SHOW, or EXPLAIN of either) goes on.
fn check_kind(statement: &DFStatement) -> Result<()> {
    let refused = match statement {
        // SHOW TABLES / COLUMNS / <setting> are planned as queries over
        // information_schema: SQL clients send them to browse the catalog.
        DFStatement::Statement(s)
            if matches!(
                **s,
                SqlStatement::Query(_)
                    | SqlStatement::ShowTables { .. }
                    | SqlStatement::ShowColumns { .. }
                    | SqlStatement::ShowVariable { .. }
            ) =>
        {
            return Ok(());
        }
        DFStatement::Explain(e) => return check_kind(&e.statement),
        DFStatement::Statement(s) => leading_words(&s.to_string()),
        DFStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".into(),
        DFStatement::CopyTo(_) => "COPY".into(),
        DFStatement::Reset(_) => "RESET".into(),
    };
    Err(Error::ReadOnly(format!("`{refused}` is not a query")))
}

/// The statement's keywords before its first name, e.g. `CREATE TABLE`.
fn leading_words(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() {
        text.split_whitespace().next().unwrap_or("").to_string()
    } else {
        words.join(" ")
    }
}

/// How deep the expression tree of this token stream can be: the open
/// parentheses plus, at each open level, the operators chained since the
/// last comma or clause keyword (a left-deep `1+1+...+1` is one level per
/// operator). Counted in one pass with an explicit stack.
fn nesting_depth<'a>(tokens: impl Iterator<Item = &'a Token>) -> usize {
    // Operators chained at each open parenthesis level.
    let mut levels: Vec<usize> = vec![0];
    let mut chained = 0usize; // sum of `levels`
    let mut max = 0usize;
    for token in tokens {
        match token {
            Token::LParen | Token::LBracket => levels.push(0),
            Token::RParen | Token::RBracket if levels.len() > 1 => {
                chained -= levels.pop().unwrap_or(0);
            }
            Token::Comma => reset(&mut levels, &mut chained),
            Token::Word(w) => match w.keyword {
                Keyword::AND | Keyword::OR | Keyword::NOT => bump(&mut levels, &mut chained),
                Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::JOIN
                | Keyword::ON
                | Keyword::CASE
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::END
                | Keyword::WITH => reset(&mut levels, &mut chained),
                _ => {}
            },
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat
            | Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Ampersand
            | Token::Pipe
            | Token::Caret
            | Token::ShiftLeft
            | Token::ShiftRight
            | Token::DoubleColon
            | Token::ExclamationMark => bump(&mut levels, &mut chained),
            _ => {}
        }
        max = max.max(levels.len() - 1 + chained);
    }
    max
}

fn bump(levels: &mut [usize], chained: &mut usize) {
    if let Some(top) = levels.last_mut() {
        *top += 1;
        *chained += 1;
    }
}

fn reset(levels: &mut [usize], chained: &mut usize) {
    if let Some(top) = levels.last_mut() {
        *chained -= *top;
        *top = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(sql: &str) -> usize {
        let dialect = GenericDialect {};
        let tokens = Tokenizer::new(&dialect, sql).tokenize().expect("tokens");
        nesting_depth(tokens.iter())
    }

    #[test]
    fn depth_counts_parentheses_and_chains_not_lists() {
        assert_eq!(depth("SELECT 1"), 0);
        assert_eq!(depth("SELECT 1+1+1"), 2);
        assert_eq!(depth("SELECT ((1))"), 2);
        assert_eq!(depth("SELECT (1+(1+1))"), 4);
        assert_eq!(depth("SELECT a IN (1, 2, 3, 4, 5, 6)"), 1);
        assert_eq!(depth("SELECT a+b, c+d, e+f FROM t WHERE x = 1"), 1);
        let chain = vec!["1"; 2000].join("+");
        assert_eq!(depth(&format!("SELECT {chain}")), 1999);
        assert_eq!(
            depth(&format!("SELECT {}1{}", "(".repeat(900), ")".repeat(900))),
            900
        );
        // Unbalanced closing parentheses do not underflow.
        assert_eq!(depth("SELECT 1))) + 1"), 1);
    }

    #[test]
    fn leading_words_name_the_statement() {
        assert_eq!(leading_words("INSERT INTO t VALUES (1)"), "INSERT INTO");
        assert_eq!(leading_words("CREATE TABLE t (a INT)"), "CREATE TABLE");
        assert_eq!(leading_words("SET x = 1"), "SET");
    }
}
