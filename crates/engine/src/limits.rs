//! What a statement may be before it is planned: at most [`MAX_STATEMENT_TOKENS`] tokens and
//! expressions at most [`MAX_EXPRESSION_DEPTH`] deep. Parsing, planning, optimising, evaluating
//! and dropping an expression tree recurse once per level, so a chain of 20,000 `+` would
//! overflow a thread's stack and abort the process (a server with it); such a statement is an
//! error instead. Checks run on a query thread ([`QUERY_THREAD_STACK`]), where even the checks'
//! own recursion and the drop of a rejected tree have room.

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, DFParser, Statement};
use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use verbatim_query::QueryError;

/// The deepest an expression may nest. Far beyond hand-written SQL; each level costs some
/// kilobytes of stack in the deepest recursion (planning with optimisation).
pub const MAX_EXPRESSION_DEPTH: usize = 1_000;

/// The most tokens one SQL text may have; bounds the size of any tree its statements make.
pub const MAX_STATEMENT_TOKENS: usize = 1 << 20;

/// Stack of each query thread: room for [`MAX_EXPRESSION_DEPTH`] levels in every recursion, and
/// for dropping the tree of a rejected statement of [`MAX_STATEMENT_TOKENS`].
pub const QUERY_THREAD_STACK: usize = 256 << 20;

/// The statements of `sql`, once they are within the limits. Run it on a query thread.
pub fn parse_within_limits(sql: &str) -> Result<Vec<Statement>, QueryError> {
    check_tokens(sql)?;
    let statements = DFParser::parse_sql(sql).map_err(QueryError::datafusion)?;
    for statement in &statements {
        if nesting_exceeds(statement, MAX_EXPRESSION_DEPTH) {
            return Err(QueryError::TooDeep { limit: MAX_EXPRESSION_DEPTH });
        }
    }
    Ok(statements.into_iter().collect())
}

/// An error when `sql` has more than [`MAX_STATEMENT_TOKENS`] tokens (whitespace not counted).
/// Text the tokenizer refuses is left to the parser, which explains it.
fn check_tokens(sql: &str) -> Result<(), QueryError> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else { return Ok(()) };
    let counted = tokens.iter().filter(|token| !matches!(token, Token::Whitespace(_))).count();
    if counted > MAX_STATEMENT_TOKENS {
        return Err(QueryError::TooLong { tokens: counted, limit: MAX_STATEMENT_TOKENS });
    }
    Ok(())
}

/// Whether an expression in `statement` nests more than `limit` levels deep. Stops at the first
/// that does, so the walk itself never goes deeper than `limit` levels.
pub fn nesting_exceeds(statement: &Statement, limit: usize) -> bool {
    let mut depth = Depth { current: 0, limit };
    let flow = match statement {
        Statement::Statement(statement) => statement.visit(&mut depth),
        Statement::Explain(explain) => return nesting_exceeds(&explain.statement, limit),
        Statement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => query.visit(&mut depth),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        Statement::CreateExternalTable(_) | Statement::Reset(_) => ControlFlow::Continue(()),
    };
    flow.is_break()
}

/// Tracks how deep the walk is among expressions.
struct Depth {
    current: usize,
    limit: usize,
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current += 1;
        if self.current > self.limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(terms: usize) -> String {
        format!("SELECT {}", vec!["1"; terms].join(" + "))
    }

    /// Runs `check` on a thread with a query thread's stack, as the engine does.
    fn on_query_stack(check: impl FnOnce() + Send + 'static) {
        let thread = std::thread::Builder::new().stack_size(QUERY_THREAD_STACK).spawn(check).expect("thread");
        thread.join().expect("the check passes");
    }

    #[test]
    fn long_chains_are_errors_and_short_ones_pass() {
        on_query_stack(long_chains);
    }

    fn long_chains() {
        let statements = parse_within_limits(&chain(500)).expect("500 terms are fine");
        assert_eq!(statements.len(), 1);
        let deep = parse_within_limits(&chain(20_000)).expect_err("20,000 terms nest too deep");
        assert!(matches!(deep, QueryError::TooDeep { limit: MAX_EXPRESSION_DEPTH }), "{deep}");
        let explained = parse_within_limits(&format!("EXPLAIN {}", chain(5_000))).expect_err("explain too");
        assert!(matches!(explained, QueryError::TooDeep { .. }), "{explained}");
        let nested = format!("SELECT * FROM (SELECT {} AS x) t", chain(3_000).trim_start_matches("SELECT "));
        assert!(matches!(parse_within_limits(&nested), Err(QueryError::TooDeep { .. })));
    }

    #[test]
    fn texts_past_the_token_limit_are_refused_before_parsing() {
        on_query_stack(too_many_tokens);
    }

    fn too_many_tokens() {
        let huge = format!("SELECT {}", vec!["1"; MAX_STATEMENT_TOKENS / 2 + 10].join(","));
        let refused = parse_within_limits(&huge).expect_err("too many tokens");
        assert!(matches!(refused, QueryError::TooLong { limit: MAX_STATEMENT_TOKENS, .. }), "{refused}");
    }
}
