//! The `search` table function: `SELECT * FROM search('phrase' [, context [, limit]])` gives every
//! place a phrase is said, also across caption breaks, at the caption where it starts, with its
//! time, a deep link and `context` captions before and after (1 by default, at most 3), so hits
//! join with `documents`. It is the `search` saved query's scan, planned as a view.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;

/// The `search` table function.
#[derive(Debug, Default)]
pub struct SearchFunction;

/// The most captions of context each side (and of run-on for a phrase).
const MAX_CONTEXT: i64 = 3;

impl SearchFunction {
    /// The SQL of a search for `phrase` with `context` captions each side and at most `limit` hits.
    pub fn sql(phrase: &str, context: i64, limit: Option<i64>) -> String {
        let quoted = format!("'{}'", phrase.replace('\'', "''"));
        let lags: Vec<String> = (1..=context).rev().map(|n| format!("lag(text, {n}) OVER w")).collect();
        let leads: Vec<String> = (1..=MAX_CONTEXT).map(|n| format!("lead(text, {n}) OVER w")).collect();
        let context_leads: Vec<String> = (1..=context).map(|n| format!("lead(text, {n}) OVER w")).collect();
        let before = if lags.is_empty() { "''".to_string() } else { format!("concat_ws(' ', {})", lags.join(", ")) };
        let after = if context_leads.is_empty() {
            "''".to_string()
        } else {
            format!("concat_ws(' ', {})", context_leads.join(", "))
        };
        let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
        format!(
            "SELECT h.doc_id, h.seq, h.start_ms, h.end_ms, hms(h.start_ms) AS start, h.text, \
             youtube_link(d.video_id, h.start_ms) AS link, h.before, h.after \
             FROM (SELECT doc_id, seq, start_ms, end_ms, text, {before} AS before, {after} AS after, \
                   concat_ws(' ', {}) AS following \
                   FROM segments WINDOW w AS (PARTITION BY doc_id ORDER BY seq)) h \
             LEFT JOIN documents d ON d.doc_id = h.doc_id \
             WHERE phrase_starts(h.text, h.following, {quoted}) \
             ORDER BY h.doc_id, h.seq{limit}",
            leads.join(", ")
        )
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        _ => None,
    }
}

impl TableFunctionImpl for SearchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let phrase = match exprs.first().and_then(literal) {
            Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => {
                s.clone()
            }
            _ => return plan_err!("search('phrase' [, context [, limit]]): the phrase must be a string literal"),
        };
        let integer = |index: usize, name: &str| -> Result<Option<i64>> {
            match exprs.get(index).map(literal) {
                None => Ok(None),
                Some(Some(value)) if value.data_type().is_integer() => {
                    Ok(value.cast_to(&datafusion::arrow::datatypes::DataType::Int64)?.try_into().ok())
                }
                Some(_) => plan_err!("search: {name} must be an integer literal"),
            }
        };
        let context = integer(1, "context")?.unwrap_or(1);
        if !(0..=MAX_CONTEXT).contains(&context) {
            return plan_err!("search: context must be 0 to {MAX_CONTEXT} captions, got {context}");
        }
        let limit = integer(2, "limit")?;
        if exprs.len() > 3 {
            return plan_err!("search takes at most 3 arguments ('phrase', context, limit)");
        }
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("search: the session is not a DataFusion session state");
        };
        let sql = SearchFunction::sql(&phrase, context, limit);
        // Planning reads only the catalog (no I/O), so it can complete here, synchronously.
        let plan = futures::executor::block_on(state.create_logical_plan(&sql))?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql))))
    }
}
