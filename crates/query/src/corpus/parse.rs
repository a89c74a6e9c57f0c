//! The parser of the corpus query language: a lexer into tokens with their columns, then
//! recursive descent (nesting limited, so no query can exhaust the stack).

use regex::RegexBuilder;
use verbatim_model::words::tokenize;

use super::{Expr, Filters, Term, fold};

/// The deepest nesting of parentheses a query may have.
const MAX_DEPTH: usize = 64;
/// The most compiled size of one regular-expression word.
const MAX_PATTERN_BYTES: usize = 1 << 20;
/// The largest NEAR/ORDERED distance and AND/NOT window.
const MAX_DISTANCE: u32 = 1000;

/// A query that does not parse: where (1-based character column) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// The character (1-based) where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

fn error<T>(column: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { column, message: message.into() })
}

/// An operator keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Or,
    And,
    Not,
    Near,
    Ordered,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    /// `"…"`: words taken as written.
    Quoted(String),
    /// `/…/`: one word, a regular expression.
    Pattern(String),
    /// An operator and its `/n`, if written.
    Operator(Keyword, Option<u32>),
    /// `key:value`.
    Filter(String, String),
    /// Anything else, up to a space or parenthesis.
    Bare(String),
}

const FILTER_KEYS: [&str; 5] = ["speaker", "channel", "lang", "after", "before"];

/// The tokens of `text`, each with its column.
fn lex(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let column = at + 1;
        match chars[at] {
            c if c.is_whitespace() => at += 1,
            '(' => {
                tokens.push((column, Token::Open));
                at += 1;
            }
            ')' => {
                tokens.push((column, Token::Close));
                at += 1;
            }
            '"' => {
                let (inner, next) = quoted(&chars, at)?;
                tokens.push((column, Token::Quoted(inner)));
                at = next;
            }
            '/' => {
                // Up to the next `/` that is not escaped as `\/`.
                let mut end = at + 1;
                let mut pattern = String::new();
                while end < chars.len() && chars[end] != '/' {
                    if chars[end] == '\\' && chars.get(end + 1) == Some(&'/') {
                        pattern.push('/');
                        end += 2;
                        continue;
                    }
                    pattern.push(chars[end]);
                    end += 1;
                }
                if end >= chars.len() {
                    return error(column, "a /regular expression/ without its closing / (write \\/ for a / inside it)");
                }
                tokens.push((column, Token::Pattern(pattern)));
                at = end + 1;
            }
            _ => {
                let start = at;
                while at < chars.len() && !chars[at].is_whitespace() && !matches!(chars[at], '(' | ')' | '"') {
                    at += 1;
                }
                let word: String = chars[start..at].iter().collect();
                if let Some((key, rest)) = word.split_once(':')
                    && let Some(key) = FILTER_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key))
                {
                    let value = if rest.is_empty() && chars.get(at) == Some(&'"') {
                        let (inner, next) = quoted(&chars, at)?;
                        at = next;
                        inner
                    } else {
                        rest.to_string()
                    };
                    if value.trim().is_empty() {
                        return error(column, format!("{key}: needs a value, e.g. {key}:\"…\""));
                    }
                    tokens.push((column, Token::Filter(key.to_string(), value.trim().to_string())));
                    continue;
                }
                tokens.push((column, operator(&word, column)?.unwrap_or(Token::Bare(word))));
            }
        }
    }
    Ok(tokens)
}

/// The text of the quoted string starting at `at`, and where the text after it starts.
fn quoted(chars: &[char], at: usize) -> Result<(String, usize), ParseError> {
    match chars[at + 1..].iter().position(|&c| c == '"') {
        Some(end) => Ok((chars[at + 1..at + 1 + end].iter().collect(), at + end + 2)),
        None => error(at + 1, "a quote without its closing \""),
    }
}

/// The operator `word` spells (`NEAR/5`, `AND`, …), if it spells one.
fn operator(word: &str, column: usize) -> Result<Option<Token>, ParseError> {
    let (name, distance) = match word.split_once('/') {
        Some((name, distance)) => (name, Some(distance)),
        None => (word, None),
    };
    let keyword = match name {
        "OR" => Keyword::Or,
        "AND" => Keyword::And,
        "NOT" => Keyword::Not,
        "NEAR" => Keyword::Near,
        "ORDERED" => Keyword::Ordered,
        _ => return Ok(None),
    };
    let distance = match distance {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if n <= MAX_DISTANCE => Some(n),
            _ => {
                return error(
                    column,
                    format!("{name}/{text}: the distance must be a whole number up to {MAX_DISTANCE}"),
                );
            }
        },
    };
    match (keyword, distance) {
        (Keyword::Near | Keyword::Ordered, None) => {
            error(column, format!("{name} needs a distance in words, e.g. {name}/5 (words between the two sides)"))
        }
        (Keyword::Or, Some(_)) => error(column, "OR takes no distance"),
        (Keyword::And | Keyword::Not, Some(0)) => error(column, format!("{name}/0: a window is at least 1 caption")),
        _ => Ok(Some(Token::Operator(keyword, distance))),
    }
}

/// Parses `text` into its expression and its filters.
pub(super) fn parse(text: &str) -> Result<(Expr, Filters), ParseError> {
    let mut filters = Filters::default();
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    for (column, token) in lex(text)? {
        match token {
            Token::Filter(key, value) => {
                if depth > 0 {
                    return error(column, "filters apply to the whole query: write them outside parentheses");
                }
                set_filter(&mut filters, &key, value, column)?;
            }
            other => {
                match other {
                    Token::Open => depth += 1,
                    Token::Close => depth = depth.saturating_sub(1),
                    _ => {}
                }
                tokens.push((column, other));
            }
        }
    }
    if tokens.is_empty() {
        return error(text.chars().count() + 1, "the query has no words to find");
    }
    let mut parser = Parser { tokens, at: 0, end: text.chars().count() + 1 };
    let expr = parser.or(0)?;
    if let Some((column, token)) = parser.tokens.get(parser.at) {
        let what = match token {
            Token::Close => "a ) without its (",
            Token::Open if parser.tokens.get(parser.at + 1).is_some_and(|(_, t)| *t == Token::Close) => {
                "empty parentheses: put words between them"
            }
            Token::Open => "an operator (AND, OR, NOT, NEAR/n or ORDERED/n) is needed before this (",
            _ => "unexpected text",
        };
        return error(*column, what);
    }
    Ok((expr, filters))
}

/// Parses `text` as filters only (`speaker:… channel:… lang:… after:… before:…`; empty: none).
pub(super) fn parse_filters(text: &str) -> Result<Filters, ParseError> {
    let mut filters = Filters::default();
    for (column, token) in lex(text)? {
        match token {
            Token::Filter(key, value) => set_filter(&mut filters, &key, value, column)?,
            _ => {
                return error(
                    column,
                    "only filters are taken here: speaker:, channel:, lang:, after:YYYY-MM-DD, before:YYYY-MM-DD",
                );
            }
        }
    }
    Ok(filters)
}

fn set_filter(filters: &mut Filters, key: &str, value: String, column: usize) -> Result<(), ParseError> {
    let slot = match key {
        "speaker" => &mut filters.speaker,
        "channel" => &mut filters.channel,
        "lang" => &mut filters.language,
        "after" | "before" => {
            let shaped = value.len() == 10
                && value.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
            let in_range = |range: std::ops::Range<usize>, most: u32| {
                value.get(range).and_then(|v| v.parse::<u32>().ok()).is_some_and(|n| (1..=most).contains(&n))
            };
            if !shaped || !in_range(5..7, 12) || !in_range(8..10, 31) {
                return error(column, format!("{key}:{value}: a day is written YYYY-MM-DD, e.g. 2024-01-31"));
            }
            if key == "after" { &mut filters.after } else { &mut filters.before }
        }
        _ => unreachable!("only known keys are lexed as filters"),
    };
    if slot.is_some() {
        return error(column, format!("{key}: is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    /// The column after the text, for errors at its end.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, token)| token)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(column, _)| *column)
    }

    fn deeper(&self, depth: usize) -> Result<usize, ParseError> {
        if depth >= MAX_DEPTH {
            return error(self.column(), format!("the query nests more than {MAX_DEPTH} levels deep"));
        }
        Ok(depth + 1)
    }

    /// `and (OR and)*`
    fn or(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut expr = self.and(depth)?;
        while let Some(Token::Operator(Keyword::Or, _)) = self.peek() {
            self.at += 1;
            let right = self.and(depth)?;
            expr = Expr::Or(Box::new(expr), Box::new(right));
        }
        Ok(expr)
    }

    /// `near ((AND[/n] [NOT] | NOT[/n]) near)*`
    fn and(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut expr = self.near(depth)?;
        loop {
            let (negated, window) = match self.peek() {
                Some(Token::Operator(Keyword::And, window)) => {
                    let window = *window;
                    self.at += 1;
                    match self.peek() {
                        Some(Token::Operator(Keyword::Not, not_window)) => {
                            let (not_window, column) = (*not_window, self.column());
                            if let (Some(a), Some(b)) = (window, not_window)
                                && a != b
                            {
                                return error(
                                    column,
                                    format!("AND/{a} NOT/{b}: give the window once, e.g. AND NOT/{b}"),
                                );
                            }
                            self.at += 1;
                            (true, not_window.or(window))
                        }
                        _ => (false, window),
                    }
                }
                Some(Token::Operator(Keyword::Not, window)) => {
                    let window = *window;
                    self.at += 1;
                    (true, window)
                }
                _ => return Ok(expr),
            };
            let right = Box::new(self.near(depth)?);
            let (left, window) = (Box::new(expr), window.unwrap_or(1));
            expr = if negated { Expr::Not { left, right, window } } else { Expr::And { left, right, window } };
        }
    }

    /// `primary ((NEAR/n | ORDERED/n) primary)*`
    fn near(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut expr = self.primary(depth)?;
        while let Some(Token::Operator(keyword @ (Keyword::Near | Keyword::Ordered), Some(slop))) = self.peek() {
            let (ordered, slop) = (*keyword == Keyword::Ordered, *slop);
            self.at += 1;
            let right = self.primary(depth)?;
            expr = Expr::Near { left: Box::new(expr), right: Box::new(right), slop, ordered };
        }
        Ok(expr)
    }

    /// `( or )` or a sequence of words.
    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let column = self.column();
        match self.peek() {
            Some(Token::Open) => {
                let depth = self.deeper(depth)?;
                self.at += 1;
                if self.peek() == Some(&Token::Close) {
                    return error(column, "empty parentheses: put words between them");
                }
                let expr = self.or(depth)?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(expr)
                    }
                    _ => error(column, "a ( without its )"),
                }
            }
            Some(Token::Operator(keyword, _)) => {
                let name = format!("{keyword:?}").to_uppercase();
                error(column, format!("{name} needs words before and after it"))
            }
            Some(Token::Close) => error(column, "a ) where words are expected"),
            None => error(column, "words are expected at the end of the query"),
            Some(_) => self.sequence(),
        }
    }

    /// Consecutive words, quoted phrases and patterns.
    fn sequence(&mut self) -> Result<Expr, ParseError> {
        let mut terms = Vec::new();
        while let Some((column, token)) = self.tokens.get(self.at) {
            let column = *column;
            match token {
                Token::Bare(word) => terms.extend(bare_terms(word, column)?),
                Token::Quoted(text) => {
                    let words = tokenize(text);
                    if words.is_empty() {
                        return error(column, format!("\"{text}\" has no words"));
                    }
                    terms.extend(words.iter().map(|w| Term::Word(fold(w).into_owned())));
                }
                Token::Pattern(pattern) => terms.push(pattern_term(pattern, column)?),
                _ => break,
            }
            self.at += 1;
        }
        if terms.iter().all(|term| matches!(term, Term::Any)) {
            return error(self.column(), "a sequence needs at least one word other than *");
        }
        Ok(Expr::Sequence(terms))
    }
}

/// The terms of a bare word: `*`, a prefix `safe*`, or its words as `tokenize` splits them.
fn bare_terms(word: &str, column: usize) -> Result<Vec<Term>, ParseError> {
    if word == "*" {
        return Ok(vec![Term::Any]);
    }
    if let Some(stem) = word.strip_suffix('*') {
        // A prefix may end in an apostrophe (`don'*`), which tokenize leaves off a whole word.
        let (bare, apostrophe) = match stem.strip_suffix(['\'', '’']) {
            Some(bare) => (bare, "'"),
            None => (stem, ""),
        };
        let words = tokenize(bare);
        return match words.as_slice() {
            [single] if !stem.contains('*') && tokenize(word) == words => {
                Ok(vec![Term::Prefix(format!("{}{apostrophe}", fold(single)))])
            }
            _ => error(column, format!("{word}: a prefix is one word followed by *, e.g. safe*")),
        };
    }
    if word.contains('*') {
        return error(column, format!("{word}: * stands for a whole word or ends a prefix; use /regex/ for more"));
    }
    let words = tokenize(word);
    if words.is_empty() {
        return error(column, format!("{word:?} has no words (words are letters, marks and digits)"));
    }
    Ok(words.iter().map(|w| Term::Word(fold(w).into_owned())).collect())
}

/// A `/…/` word: the expression anchored to the whole word, case ignored.
fn pattern_term(pattern: &str, column: usize) -> Result<Term, ParseError> {
    if pattern.is_empty() {
        return error(column, "an empty /regular expression/");
    }
    let build = |text: &str| RegexBuilder::new(text).case_insensitive(true).size_limit(MAX_PATTERN_BYTES).build();
    // The pattern alone first, so that an error speaks of what the user wrote.
    if let Err(e) = build(pattern) {
        let reason = match &e {
            regex::Error::Syntax(text) => {
                text.lines().rev().find_map(|line| line.strip_prefix("error: ")).unwrap_or(text).to_string()
            }
            other => other.to_string(),
        };
        return error(column, format!("/{pattern}/: {reason}"));
    }
    let regex = build(&format!("^(?:{pattern})$")).or_else(|e| error(column, format!("/{pattern}/: {e}")))?;
    Ok(Term::Pattern(regex, pattern.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(expr: &Expr) -> String {
        let term = |t: &Term| match t {
            Term::Word(w) => w.clone(),
            Term::Prefix(p) => format!("{p}*"),
            Term::Any => "*".into(),
            Term::Pattern(_, p) => format!("/{p}/"),
        };
        match expr {
            Expr::Sequence(terms) => terms.iter().map(term).collect::<Vec<_>>().join(" "),
            Expr::Near { left, right, slop, ordered } => {
                format!("[{} {}/{slop} {}]", shape(left), if *ordered { "ORDERED" } else { "NEAR" }, shape(right))
            }
            Expr::And { left, right, window } => format!("[{} AND/{window} {}]", shape(left), shape(right)),
            Expr::Not { left, right, window } => format!("[{} NOT/{window} {}]", shape(left), shape(right)),
            Expr::Or(left, right) => format!("[{} OR {}]", shape(left), shape(right)),
        }
    }

    fn parsed(text: &str) -> String {
        shape(&parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).0)
    }

    #[test]
    fn plain_words_are_a_phrase_as_before() {
        assert_eq!(parsed("Open Source"), "open source");
        assert_eq!(parsed("don't e-mail"), "don't e mail");
    }

    #[test]
    fn operators_bind_near_before_and_before_or() {
        assert_eq!(parsed("\"open source\" NEAR/5 rust"), "[open source NEAR/5 rust]");
        assert_eq!(parsed("a ORDERED/2 b OR c AND d NEAR/1 e"), "[[a ORDERED/2 b] OR [c AND/1 [d NEAR/1 e]]]");
        assert_eq!(parsed("(a OR b) AND/3 NOT c"), "[[a OR b] NOT/3 c]");
        assert_eq!(parsed("a NOT b"), "[a NOT/1 b]");
        assert_eq!(parsed("memory safe* the * of /colou?r/"), "memory safe* the * of /colou?r/");
        assert_eq!(parsed("near or and not"), "near or and not");
    }

    #[test]
    fn twenty_parentheses_deep_parse_and_slashes_escape() {
        let deep = format!("{}the{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(parsed(&deep), "the");
        assert_eq!(parsed(r"/a\/b/ c"), "/a/b/ c");
        assert_eq!(parsed("don'* you’*"), "don'* you'*");
        assert_eq!(parsed("ΟΔΟΣ οδος"), "οδοσ οδοσ");
        let (_, filters) = parse("x Speaker:Bo LANG:en").unwrap();
        assert_eq!((filters.speaker.as_deref(), filters.language.as_deref()), (Some("Bo"), Some("en")));
    }

    #[test]
    fn filters_are_taken_out() {
        let (expr, filters) = parse("speaker:\"Bryan C\" rust channel:Oxide lang:en after:2024-01-01").unwrap();
        assert_eq!(shape(&expr), "rust");
        assert_eq!(filters.speaker.as_deref(), Some("Bryan C"));
        assert_eq!(filters.channel.as_deref(), Some("Oxide"));
        assert_eq!((filters.language.as_deref(), filters.after.as_deref()), (Some("en"), Some("2024-01-01")));
    }

    #[test]
    fn errors_point_at_the_column() {
        let at = |text: &str| parse(text).expect_err(text);
        assert_eq!(at("rust NEAR c").column, 6);
        assert!(at("rust NEAR c").message.contains("NEAR/5"));
        assert_eq!(at("(a OR b").column, 1);
        assert_eq!(at("a OR").column, 5);
        assert_eq!(at("a b)").column, 4);
        assert_eq!(at("x /[/").column, 3);
        assert_eq!(at("a (speaker:x b)").column, 4);
        assert_eq!(at("co*l").column, 1);
        assert_eq!(at("* *").column, 4);
        assert_eq!(at("after:2024").column, 1);
        assert_eq!(at("").column, 1);
        assert_eq!(at("AND b").column, 1);
        assert!(at(&"(".repeat(10_000)).message.contains("nests more than"));
        assert_eq!(at("a ()").column, 3);
        assert!(at("a ()").message.contains("empty parentheses"));
        assert_eq!(at("x /[/").message, "/[/: unclosed character class");
        assert!(at("before:2024-13-01").message.contains("YYYY-MM-DD"));
        assert!(at("a AND/2 NOT/5 b").message.contains("give the window once"));
    }

    #[test]
    fn reach_covers_the_deciding_words() {
        let reach = |text: &str| parse(text).unwrap().0.reach();
        assert_eq!(reach("a b c"), (3, 0));
        assert_eq!(reach("a NEAR/5 b c"), (1 + 1 + 5 + 2 + 2, 0));
        assert_eq!(reach("a AND/3 b"), (2, 2));
    }
}
