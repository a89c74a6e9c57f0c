//! Saved queries: SQL files with a header that says what they answer and which parameters they
//! take, run by name (`verbatim run NAME --param k=v`).
//!
//! ```sql
//! -- The most frequent words across the archive.
//! --
//! -- @param limit integer = 20 : how many words to list
//! -- @param stopwords text = '' : words to leave out (comma-separated, or 'english')
//! SELECT … LIMIT ${limit}
//! ```
//!
//! Parameters are typed (`integer`, `number`, `text`); values are checked and rendered as SQL
//! literals (text quoted and escaped), so a parameter can never change the shape of the query.
//! A parameter without a default is required.

use std::collections::BTreeMap;
use std::path::Path;

/// A saved query could not be read, or was given parameters it cannot take.
#[derive(Debug, thiserror::Error)]
pub enum SavedQueryError {
    /// The file breaks the saved-query rules (header, placeholders, quoting).
    #[error("{origin}:{line}: {reason}")]
    Malformed {
        /// Where the query comes from.
        origin: String,
        /// The line (0: the query as a whole).
        line: usize,
        /// What is wrong.
        reason: Problem,
    },
    /// No saved query has the name.
    #[error("no saved query {name:?}; saved queries: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A value was given for a parameter the query does not take.
    #[error("{query} has no parameter {param:?}; it takes: {takes}")]
    UnknownParam {
        /// The query.
        query: String,
        /// The parameter given.
        param: String,
        /// The parameters it takes.
        takes: String,
    },
    /// A required parameter was not given.
    #[error("{query} needs a value for its parameter {param} ({about})")]
    MissingParam {
        /// The query.
        query: String,
        /// The parameter.
        param: String,
        /// What it means.
        about: String,
    },
    /// A value is not of its parameter's type.
    #[error("{query}: parameter {param}: {reason}")]
    BadValue {
        /// The query.
        query: String,
        /// The parameter.
        param: String,
        /// Why the value does not do.
        reason: Problem,
    },
    /// A folder or file of saved queries could not be read.
    #[error("{path}: {source}")]
    Unreadable {
        /// The folder or file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What is wrong with a saved query's text or with a value given for one of its parameters.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// An `@param` line that does not read.
    #[error("expected `@param NAME TYPE [= DEFAULT] : DESCRIPTION`")]
    BadDeclaration,
    /// A parameter name with characters other than letters, digits, `_` and `-`.
    #[error("bad parameter name {0:?}")]
    BadName(String),
    /// A parameter type other than integer, number and text.
    #[error("unknown parameter type {0:?} (integer, number, text or choice(a|b|…))")]
    UnknownType(String),
    /// A parameter's default is not of its type.
    #[error("default of {name}: {source}")]
    BadDefault {
        /// The parameter.
        name: String,
        /// Why the default does not do.
        source: Box<Problem>,
    },
    /// A parameter declared twice.
    #[error("parameter {0} declared twice")]
    DeclaredTwice(String),
    /// A placeholder without its `@param` line.
    #[error("${{{0}}} is used but not declared with @param")]
    Undeclared(String),
    /// A placeholder inside quotes.
    #[error(
        "a ${{…}} placeholder inside quotes is not substituted; write it without quotes (text values are quoted for you)"
    )]
    QuotedPlaceholder,
    /// A `${` without its `}`.
    #[error("an unclosed ${{ placeholder")]
    UnclosedPlaceholder,
    /// A placeholder with no value.
    #[error("${{{0}}} has no value")]
    NoValue(String),
    /// A value that is not an integer, for an integer parameter.
    #[error("expected an integer, got {0:?}")]
    NotInteger(String),
    /// A value that is not a whole number of 0 or more, for a count parameter.
    #[error("expected a whole number, 0 or more, got {0:?}")]
    NotCount(String),
    /// A value that is not a finite number, for a number parameter.
    #[error("expected a number, got {0:?}")]
    NotNumber(String),
    /// A value that is not one of a choice parameter's choices.
    #[error("expected one of {choices}, got {value:?}")]
    NotAChoice {
        /// The value given.
        value: String,
        /// The choices, listed for the message.
        choices: String,
    },
    /// A value that changes the query's tokens, not only a literal.
    #[error("a parameter value changes the query's shape ({0}); check the placeholders' surroundings")]
    ShapeChange(String),
}

include!(concat!(env!("OUT_DIR"), "/builtin_queries.rs"));

/// The type of a saved query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A whole number.
    Integer,
    /// A whole number, 0 or more (limits, offsets, widths, versions).
    Count,
    /// Any number.
    Number,
    /// A string, rendered as a quoted SQL literal.
    Text,
}

impl ParamType {
    /// Its name in an `@param` line.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Integer => "integer",
            ParamType::Count => "count",
            ParamType::Number => "number",
            ParamType::Text => "text",
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name, used as `${name}` in the SQL.
    pub name: String,
    /// Its type.
    pub kind: ParamType,
    /// Its default value (unquoted); required when `None`.
    pub default: Option<String>,
    /// For a text parameter declared `choice(a|b|c)`: the values it takes (lowercase), besides
    /// its default. Empty for any text.
    pub choices: Vec<String>,
    /// What it means.
    pub description: String,
}

impl Param {
    /// Its type as its `@param` line declares it: `integer`, `count`, `number`, `text` or
    /// `choice(a|b)`.
    pub fn declared_type(&self) -> String {
        if self.choices.is_empty() {
            self.kind.name().to_string()
        } else {
            format!("choice({})", self.choices.join("|"))
        }
    }
}

/// A saved query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuery {
    /// Its name (the file stem).
    pub name: String,
    /// What it answers (the header's leading comment).
    pub description: String,
    /// Its parameters, in declaration order.
    pub params: Vec<Param>,
    /// The whole file text.
    pub sql: String,
    /// Where it comes from: `built-in` or a file path.
    pub origin: String,
}

impl SavedQuery {
    /// Parses a saved query's text; `name` is its file stem.
    pub fn parse(name: &str, sql: &str, origin: &str) -> Result<SavedQuery, SavedQueryError> {
        let error =
            |line: usize, reason: Problem| SavedQueryError::Malformed { origin: origin.to_string(), line, reason };
        let mut description = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for (index, line) in sql.lines().enumerate() {
            let Some(comment) = line.trim_start().strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            let comment = comment.trim();
            if let Some(declaration) = comment.strip_prefix("@param") {
                let param = parse_param(declaration).map_err(|reason| error(index + 1, reason))?;
                if params.iter().any(|p| p.name == param.name) {
                    return Err(error(index + 1, Problem::DeclaredTwice(param.name)));
                }
                params.push(param);
            } else if params.is_empty() && !comment.is_empty() {
                description.push(comment.to_string());
            }
        }
        for used in placeholders(sql).map_err(|(line, reason)| error(line, reason))? {
            if !params.iter().any(|p| p.name == used) {
                return Err(error(0, Problem::Undeclared(used)));
            }
        }
        Ok(SavedQuery {
            name: name.to_string(),
            description: description.join(" "),
            params,
            sql: sql.to_string(),
            origin: origin.to_string(),
        })
    }

    /// The SQL with every `${name}` replaced by its value (given or default) as a literal.
    pub fn render(&self, values: &[(String, String)]) -> Result<String, SavedQueryError> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in values {
            if !self.params.iter().any(|p| &p.name == key) {
                return Err(SavedQueryError::UnknownParam {
                    query: self.name.clone(),
                    param: key.clone(),
                    takes: self.param_names(),
                });
            }
            given.insert(key, value);
        }
        let mut literals = BTreeMap::new();
        for param in &self.params {
            let value = match (given.get(param.name.as_str()), &param.default) {
                (Some(value), _) => value.to_string(),
                (None, Some(default)) => default.clone(),
                (None, None) => {
                    return Err(SavedQueryError::MissingParam {
                        query: self.name.clone(),
                        param: param.name.clone(),
                        about: param.description.clone(),
                    });
                }
            };
            let literal = literal(param, &value).map_err(|reason| SavedQueryError::BadValue {
                query: self.name.clone(),
                param: param.name.clone(),
                reason,
            })?;
            literals.insert(param.name.clone(), literal);
        }
        let error =
            |line: usize, reason: Problem| SavedQueryError::Malformed { origin: self.origin.clone(), line, reason };
        let pieces = pieces(&self.sql).map_err(|(line, reason)| error(line, reason))?;
        let rendered = substitute(&pieces, &literals).map_err(|reason| error(0, reason))?;
        // The values must not change the query's shape: its tokens must be those it has with
        // neutral text values, but for the text literals themselves.
        let mut neutral = literals;
        for param in self.params.iter().filter(|p| p.kind == ParamType::Text) {
            neutral.insert(param.name.clone(), "'x'".to_string());
        }
        let neutral = substitute(&pieces, &neutral).map_err(|reason| error(0, reason))?;
        if let Some(reason) = shape_change(&neutral, &rendered) {
            return Err(error(0, Problem::ShapeChange(reason)));
        }
        Ok(rendered)
    }

    fn param_names(&self) -> String {
        if self.params.is_empty() {
            return "no parameters".to_string();
        }
        self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Parses `name type [= default] : description`.
fn parse_param(declaration: &str) -> Result<Param, Problem> {
    let (head, description) = declaration.split_once(':').unwrap_or((declaration, ""));
    let (signature, default) = match head.split_once('=') {
        Some((signature, default)) => (signature, Some(unquote(default.trim()))),
        None => (head, None),
    };
    let mut words = signature.split_whitespace();
    let (Some(name), Some(kind), None) = (words.next(), words.next(), words.next()) else {
        return Err(Problem::BadDeclaration);
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Problem::BadName(name.to_string()));
    }
    let (kind, choices) = match kind {
        "integer" => (ParamType::Integer, Vec::new()),
        "count" => (ParamType::Count, Vec::new()),
        "number" => (ParamType::Number, Vec::new()),
        "text" => (ParamType::Text, Vec::new()),
        other => match other.strip_prefix("choice(").and_then(|rest| rest.strip_suffix(')')) {
            Some(list) if !list.is_empty() => {
                (ParamType::Text, list.split('|').map(|choice| choice.trim().to_lowercase()).collect())
            }
            _ => return Err(Problem::UnknownType(other.to_string())),
        },
    };
    let param = Param { name: name.to_string(), kind, default, choices, description: description.trim().to_string() };
    if let Some(default) = &param.default {
        literal(&param, default)
            .map_err(|reason| Problem::BadDefault { name: name.to_string(), source: Box::new(reason) })?;
    }
    Ok(param)
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => value.to_string(),
    }
}

/// The value as an SQL literal of the parameter's type.
fn literal(param: &Param, value: &str) -> Result<String, Problem> {
    match param.kind {
        ParamType::Integer => match value.trim().parse::<i64>() {
            // Parenthesised: `10-${n}` must not become `10--5`, a comment.
            Ok(v) if v < 0 => Ok(format!("({v})")),
            Ok(v) => Ok(v.to_string()),
            Err(_) => Err(Problem::NotInteger(value.to_string())),
        },
        ParamType::Count => match value.trim().parse::<u64>() {
            Ok(v) if v <= i64::MAX as u64 => Ok(v.to_string()),
            _ => Err(Problem::NotCount(value.to_string())),
        },
        ParamType::Number => match value.trim().parse::<f64>() {
            // Parenthesised: `10-${n}` must not become `10--5`, a comment.
            Ok(v) if v.is_finite() && v < 0.0 => Ok(format!("({v:?})")),
            Ok(v) if v.is_finite() => Ok(format!("{v:?}")),
            _ => Err(Problem::NotNumber(value.to_string())),
        },
        ParamType::Text if !param.choices.is_empty() => {
            let is_default = param.default.as_deref() == Some(value);
            if is_default || param.choices.iter().any(|choice| choice.eq_ignore_ascii_case(value.trim())) {
                Ok(format!("'{}'", value.trim().to_lowercase().replace('\'', "''")))
            } else {
                let mut choices: Vec<String> = param.choices.iter().map(|choice| format!("{choice:?}")).collect();
                choices.extend(param.default.iter().map(|default| format!("{default:?}")));
                Err(Problem::NotAChoice { value: value.to_string(), choices: choices.join(", ") })
            }
        }
        ParamType::Text => Ok(format!("'{}'", value.replace('\'', "''"))),
    }
}

/// A piece of a saved query's text: SQL to copy as it is, or a `${name}` placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Cuts `sql` into text and placeholders in one pass over the original text. A placeholder is
/// `${name}` in SQL code; inside comments (`--`, `/* */`) the text is kept as it is. A placeholder
/// inside a quoted string or identifier is an error: values are quoted when rendered, so
/// `'${name}'` would quote twice.
fn pieces(sql: &str) -> Result<Vec<Piece<'_>>, (usize, Problem)> {
    let line_of = |offset: usize| sql[..offset].matches('\n').count() + 1;
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = sql[at..].find('\n').map_or(bytes.len(), |end| at + end + 1);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = sql[at + 2..].find("*/").map_or(bytes.len(), |end| at + 2 + end + 2);
            }
            quote @ (b'\'' | b'"') => {
                let end = sql[at + 1..].find(quote as char).map_or(bytes.len(), |end| at + 1 + end + 1);
                if let Some(inner) = sql[at..end].find("${") {
                    return Err((line_of(at + inner), Problem::QuotedPlaceholder));
                }
                at = end;
            }
            b'$' if bytes.get(at + 1) == Some(&b'{') => {
                let Some(close) = sql[at + 2..].find('}') else {
                    return Err((line_of(at), Problem::UnclosedPlaceholder));
                };
                pieces.push(Piece::Text(&sql[text_start..at]));
                pieces.push(Piece::Placeholder(&sql[at + 2..at + 2 + close]));
                at += 2 + close + 1;
                text_start = at;
            }
            _ => at += 1,
        }
    }
    pieces.push(Piece::Text(&sql[text_start..]));
    Ok(pieces)
}

/// The names used as `${name}` in `sql`'s code.
fn placeholders(sql: &str) -> Result<Vec<String>, (usize, Problem)> {
    Ok(pieces(sql)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Placeholder(name) => Some(name.to_string()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// The query cut into `pieces` with each placeholder replaced by its literal. The pieces come from
/// the query's own text, so a value containing `${other}` stays part of its literal.
fn substitute(pieces: &[Piece<'_>], literals: &BTreeMap<String, String>) -> Result<String, Problem> {
    let mut out = String::new();
    for piece in pieces {
        match *piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => {
                out.push_str(literals.get(name).ok_or_else(|| Problem::NoValue(name.to_string()))?)
            }
        }
    }
    Ok(out)
}

/// Why `rendered` is not `neutral` but for the contents of string literals, as DataFusion's SQL
/// tokenizer reads them; `None` when it is not (or when `neutral` itself does not tokenize, which
/// the planner will report).
fn shape_change(neutral: &str, rendered: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = GenericDialect {};
    let Ok(expected) = Tokenizer::new(&dialect, neutral).tokenize() else { return None };
    let found = match Tokenizer::new(&dialect, rendered).tokenize() {
        Ok(found) => found,
        Err(e) => return Some(e.to_string()),
    };
    if expected.len() != found.len() {
        return Some(format!("{} tokens instead of {}", found.len(), expected.len()));
    }
    let is_string = |token: &Token| {
        matches!(
            token,
            Token::SingleQuotedString(_)
                | Token::EscapedStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::HexStringLiteral(_)
                | Token::UnicodeStringLiteral(_)
        )
    };
    expected.iter().zip(&found).find_map(|(want, got)| {
        let same_kind_of_string = is_string(want) && std::mem::discriminant(want) == std::mem::discriminant(got);
        (want != got && !same_kind_of_string).then(|| format!("`{got}` where the query has `{want}`"))
    })
}

/// The saved queries shipped with verbatim.
pub fn builtin() -> Vec<SavedQuery> {
    BUILTIN
        .iter()
        .map(|(name, sql)| SavedQuery::parse(name, sql, "built-in").expect("built-in queries are checked by tests"))
        .collect()
}

/// The saved queries in `dir` (`*.sql`), sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<SavedQuery>, SavedQueryError> {
    let read_error = |source| SavedQueryError::Unreadable { path: dir.display().to_string(), source };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let sql = std::fs::read_to_string(path)
                .map_err(|source| SavedQueryError::Unreadable { path: path.display().to_string(), source })?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            SavedQuery::parse(&name, &sql, &path.display().to_string())
        })
        .collect()
}

/// The query called `name` in `catalog`.
pub fn find<'a>(catalog: &'a [SavedQuery], name: &str) -> Result<&'a SavedQuery, SavedQueryError> {
    catalog.iter().find(|query| query.name == name).ok_or_else(|| SavedQueryError::Unknown {
        name: name.to_string(),
        known: catalog.iter().map(|query| query.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

/// Built-in queries, overridden and extended by those of `dirs` (later folders win).
pub fn catalog(dirs: &[&Path]) -> Result<Vec<SavedQuery>, SavedQueryError> {
    let mut by_name: BTreeMap<String, SavedQuery> = builtin().into_iter().map(|q| (q.name.clone(), q)).collect();
    for dir in dirs {
        for query in load_dir(dir)? {
            by_name.insert(query.name.clone(), query);
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "-- Finds things.\n-- Really.\n--\n-- @param limit integer = 20 : how many\n-- @param phrase text : what to find\nSELECT * FROM t WHERE x = ${phrase} LIMIT ${limit}\n";

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn header_gives_description_and_typed_params() {
        let query = SavedQuery::parse("find", SQL, "test").unwrap();
        assert_eq!(query.description, "Finds things. Really.");
        assert_eq!(query.params.len(), 2);
        assert_eq!(query.params[0].default.as_deref(), Some("20"));
        assert_eq!(query.params[1].default, None);
    }

    #[test]
    fn values_become_safe_literals() {
        let query = SavedQuery::parse("find", SQL, "test").unwrap();
        let sql = query.render(&values(&[("phrase", "it's'; DROP TABLE t; --")])).unwrap();
        assert!(sql.contains("x = 'it''s''; DROP TABLE t; --' LIMIT 20"), "{sql}");
    }

    #[test]
    fn bad_or_missing_or_unknown_params_are_refused_with_the_reason() {
        let query = SavedQuery::parse("find", SQL, "test").unwrap();
        let missing = query.render(&[]).unwrap_err().to_string();
        assert!(missing.contains("needs a value for its parameter phrase"), "{missing}");
        let bad = query.render(&values(&[("phrase", "x"), ("limit", "ten")])).unwrap_err().to_string();
        assert!(bad.contains("expected an integer"), "{bad}");
        let counted = SavedQuery::parse("q", "-- q\n-- @param n count = 0 : n\nSELECT ${n}", "test").unwrap();
        for bad in ["-5", "1.5", "many"] {
            let refused = counted.render(&values(&[("n", bad)])).unwrap_err().to_string();
            assert!(refused.contains("expected a whole number, 0 or more"), "{bad}: {refused}");
        }
        assert_eq!(counted.render(&values(&[("n", " 7 ")])).unwrap(), "-- q\n-- @param n count = 0 : n\nSELECT 7");
        let unknown = query.render(&values(&[("phrase", "x"), ("lmit", "1")])).unwrap_err().to_string();
        assert!(unknown.contains("it takes: limit, phrase"), "{unknown}");
    }

    #[test]
    fn choice_parameters_take_only_their_choices_or_default() {
        let sql = "-- Grouped.\n-- @param by choice(channel|month) = '' : grouping\nSELECT ${by}";
        let query = SavedQuery::parse("grouped", sql, "test").unwrap();
        assert_eq!(query.params[0].choices, ["channel", "month"]);
        assert!(query.render(&values(&[("by", "Month")])).unwrap().ends_with("SELECT 'month'"));
        assert!(query.render(&[]).unwrap().ends_with("SELECT ''"));
        let typo = query.render(&values(&[("by", "chanel")])).unwrap_err().to_string();
        assert!(typo.contains(r#"expected one of "channel", "month", "", got "chanel""#), "{typo}");
        let empty = SavedQuery::parse("x", "-- x\n-- @param by choice() : y\nSELECT ${by}", "test").unwrap_err();
        assert!(empty.to_string().contains("unknown parameter type"), "{empty}");
    }

    #[test]
    fn undeclared_placeholders_are_refused() {
        let error = SavedQuery::parse("x", "-- x\nSELECT ${nope}", "test").unwrap_err().to_string();
        assert!(error.contains("${nope} is used but not declared"), "{error}");
    }

    #[test]
    fn builtin_queries_parse_and_render_with_defaults() {
        let queries = builtin();
        let names: Vec<_> = queries.iter().map(|q| q.name.as_str()).collect();
        for expected in ["doc-stats", "search", "top-words"] {
            assert!(names.contains(&expected), "{names:?}");
        }
        for query in queries {
            assert!(!query.description.is_empty(), "{} has no description", query.name);
            let required: Vec<_> = query
                .params
                .iter()
                .filter(|p| p.default.is_none())
                .map(|p| (p.name.clone(), "x".to_string()))
                .collect();
            let sql = query.render(&required).unwrap();
            assert!(!sql.contains("${"), "{sql}");
        }
    }

    /// Values that have broken naive substitution: other placeholders, quotes, backslashes, dollar
    /// signs, newlines, comment markers and a very long value.
    fn hostile_values() -> Vec<String> {
        let mut values: Vec<String> = [
            "${b}",
            "' OR true OR '",
            "${a}${b}",
            "it's",
            "''",
            "\\",
            "\\'",
            "$",
            "$$ $1 ${",
            "}",
            "line one\nline two\r\n",
            "-- comment",
            "/* open",
            "*/ close",
            "x'; DROP TABLE segments; --",
            "\"quoted\"",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        values.push("long 'value' ${b} ".repeat(20_000));
        values
    }

    const PAIR: &str = "-- Two texts.\n-- @param a text : first\n-- @param b text : second\n-- a note about ${a}\nSELECT ${a} AS a, ${b} AS b /* ${b} */\n";

    #[test]
    fn a_value_holding_another_placeholder_stays_a_literal() {
        let query = SavedQuery::parse("pair", PAIR, "test").unwrap();
        let sql = query.render(&values(&[("a", "${b}"), ("b", " OR true OR ")])).unwrap();
        assert_eq!(
            sql,
            "-- Two texts.\n-- @param a text : first\n-- @param b text : second\n-- a note about ${a}\nSELECT '${b}' AS a, ' OR true OR ' AS b /* ${b} */\n"
        );
    }

    #[test]
    fn placeholders_in_comments_are_left_alone_and_in_quotes_refused() {
        let query = SavedQuery::parse("pair", PAIR, "test").unwrap();
        let sql = query.render(&values(&[("a", "x\nDROP TABLE t"), ("b", "y")])).unwrap();
        assert!(sql.contains("-- a note about ${a}\nSELECT 'x\nDROP TABLE t' AS a"), "{sql}");
        let quoted = SavedQuery::parse("q", "-- q\n-- @param a text : a\nSELECT '${a}'", "test").unwrap_err();
        assert!(quoted.to_string().contains("test:3: a ${…} placeholder inside quotes"), "{quoted}");
        let unclosed = SavedQuery::parse("q", "-- q\n-- @param a text : a\nSELECT ${a", "test").unwrap_err();
        assert!(unclosed.to_string().contains("test:3: an unclosed ${"), "{unclosed}");
    }

    #[tokio::test]
    async fn hostile_values_come_back_unchanged_from_the_query() {
        let query = SavedQuery::parse("pair", PAIR, "test").unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        let all = hostile_values();
        for (a, b) in all.iter().zip(all.iter().rev()) {
            let sql = query.render(&values(&[("a", a), ("b", b)])).unwrap();
            let expected = format!("SELECT '{}' AS a, '{}' AS b", a.replace('\'', "''"), b.replace('\'', "''"));
            assert!(sql.contains(&expected), "rendered: {sql}");
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1, "{sql}");
            let row = &batches[0];
            let text =
                |column: usize| datafusion::arrow::util::display::array_value_to_string(row.column(column), 0).unwrap();
            assert_eq!((text(0), text(1)), (a.clone(), b.clone()), "{sql}");
        }
    }

    #[test]
    fn values_that_would_change_the_shape_are_refused_and_negative_numbers_stay_numbers() {
        let prefixed = SavedQuery::parse("q", "-- q\n-- @param a text : a\nSELECT E${a} AS x", "test").unwrap();
        let error = prefixed.render(&values(&[("a", "\\' OR true --")])).unwrap_err().to_string();
        assert!(error.contains("changes the query's shape"), "{error}");
        assert!(prefixed.render(&values(&[("a", "plain")])).is_ok());
        let nested = "-- q\n-- @param a text : a\nSELECT 1 /* outer /* inner */ ${a} */ AS x";
        let nested = SavedQuery::parse("q", nested, "test").unwrap();
        let error = nested.render(&values(&[("a", "*/ OR true /*")])).unwrap_err().to_string();
        assert!(error.contains("changes the query's shape"), "{error}");
        let minus =
            SavedQuery::parse("q", "-- q\n-- @param n integer : n\nSELECT 10-${n} AS x, 2 AS y", "test").unwrap();
        assert_eq!(
            minus.render(&values(&[("n", "-5")])).unwrap(),
            "-- q\n-- @param n integer : n\nSELECT 10-(-5) AS x, 2 AS y"
        );
    }
}
