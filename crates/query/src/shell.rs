//! The interactive shell's statement loop, apart from the terminal: lines go in, and the loop says
//! what to do (run complete statements, print a listing, change the output mode, quit). SQL may
//! span lines and ends with `;`; dot commands (`.tables`, `.schema TABLE`, `.timer on|off`,
//! `.mode FORMAT`, `.help`, `.quit`) take one line. The binary reads lines (with history and
//! line editing), runs statements and prints results.

use datafusion::prelude::SessionContext;

/// What to do after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet: the statement goes on.
    More,
    /// Run these complete statements.
    Run(String),
    /// Print this text.
    Print(String),
    /// Write results in this output format from now on.
    Mode(String),
    /// Show timings (`true`) or not.
    Timer(bool),
    /// Leave the shell.
    Quit,
}

/// The help text of the dot commands.
pub const HELP: &str = "\
SQL statements end with ';' and may span lines. Tables: segments, documents, words, rejects.
.tables              list the tables
.schema TABLE        the columns of TABLE
.mode FORMAT         table, csv, json or ndjson
.timer on|off        show how long each statement took
.help                this text
.quit                leave (also Ctrl-D); Ctrl-C cancels a running statement or the current input";

/// The shell's state: the statement being typed.
#[derive(Debug, Default)]
pub struct Shell {
    buffer: String,
}

impl Shell {
    /// A shell with nothing typed yet.
    pub fn new() -> Shell {
        Shell::default()
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        if self.buffer.is_empty() { "verbatim> " } else { "     ...> " }
    }

    /// Forgets the statement being typed (Ctrl-C at the prompt).
    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    /// Takes one line; `ctx` answers `.tables` and `.schema`.
    pub fn feed(&mut self, line: &str, ctx: &SessionContext) -> Step {
        let trimmed = line.trim();
        if self.buffer.is_empty() && trimmed.starts_with('.') {
            return dot_command(trimmed, ctx);
        }
        if self.buffer.is_empty() && trimmed.is_empty() {
            return Step::More;
        }
        if !self.buffer.is_empty() {
            self.buffer.push('\n');
        }
        self.buffer.push_str(line);
        if ends_statement(&self.buffer) { Step::Run(std::mem::take(&mut self.buffer)) } else { Step::More }
    }
}

/// Whether `sql` ends with a `;` outside quotes and comments.
fn ends_statement(sql: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut last_significant = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '-' if !in_single && !in_double && chars.peek() == Some(&'-') => {
                // A line comment runs to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = Some((c, in_single || in_double));
        }
    }
    matches!(last_significant, Some((';', false))) && !in_single && !in_double
}

fn dot_command(line: &str, ctx: &SessionContext) -> Step {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    match (command, argument) {
        (".quit" | ".exit" | ".q", _) => Step::Quit,
        (".help", _) => Step::Print(HELP.to_string()),
        (".tables", _) => {
            let mut names: Vec<String> = Vec::new();
            for catalog in ctx.catalog_names().into_iter().filter_map(|name| ctx.catalog(&name)) {
                for schema in catalog.schema_names().into_iter().filter(|s| s != "information_schema") {
                    names.extend(catalog.schema(&schema).map(|s| s.table_names()).unwrap_or_default());
                }
            }
            names.sort();
            Step::Print(names.join("\n"))
        }
        (".schema", Some(table)) => Step::Run(format!("DESCRIBE {table};")),
        (".schema", None) => Step::Print("usage: .schema TABLE".to_string()),
        (".timer", Some("on")) => Step::Timer(true),
        (".timer", Some("off")) => Step::Timer(false),
        (".timer", _) => Step::Print("usage: .timer on|off".to_string()),
        (".mode", Some(mode)) => Step::Mode(mode.to_string()),
        (".mode", None) => Step::Print("usage: .mode table|csv|json|ndjson".to_string()),
        (other, _) => Step::Print(format!("unknown command {other}; .help lists them")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  \n"));
        assert!(!ends_statement("SELECT ';'"));
        assert!(!ends_statement("SELECT 1 -- done;"));
        assert!(ends_statement("SELECT 'it''s';"));
        assert!(!ends_statement("SELECT \"a;\""));
    }

    #[test]
    fn lines_gather_into_statements_and_dot_commands_act_at_once() {
        let ctx = SessionContext::new();
        let mut shell = Shell::new();
        assert_eq!(shell.feed("SELECT 1,", &ctx), Step::More);
        assert_eq!(shell.prompt(), "     ...> ");
        assert_eq!(shell.feed("  2;", &ctx), Step::Run("SELECT 1,\n  2;".to_string()));
        assert_eq!(shell.prompt(), "verbatim> ");
        assert_eq!(shell.feed(".timer on", &ctx), Step::Timer(true));
        assert_eq!(shell.feed(".mode csv", &ctx), Step::Mode("csv".to_string()));
        assert_eq!(shell.feed(".quit", &ctx), Step::Quit);
        assert!(matches!(shell.feed(".bogus", &ctx), Step::Print(text) if text.contains("unknown command")));
        assert_eq!(shell.feed(".schema segments", &ctx), Step::Run("DESCRIBE segments;".to_string()));
        shell.feed("SELECT", &ctx);
        shell.clear();
        assert_eq!(shell.prompt(), "verbatim> ");
    }
}
