//! JSON re-indented exactly as Python writes it with `json.dump(data, f, indent=N)`: the job of
//! the `format_json.py` that pretty-prints youtube-transcript-api output.
//!
//! Python reads the document into dicts (key order kept; a repeated key keeps its first place and
//! its last value), ints (arbitrary precision) and floats, then writes: `ensure_ascii` escapes
//! (`\uXXXX`, surrogate pairs above U+FFFF), `", "`-free separators with one item per line,
//! `[]`/`{}` for empty containers, floats as `repr` (shortest round-trip digits, scientific
//! notation below 1e-4 and from 1e16, a `.0` on integral values, `NaN`/`Infinity`), and no
//! trailing newline. Python also accepts `NaN`, `Infinity` and `-Infinity` on input.

use crate::FormatError;

/// A JSON value as Python holds it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    /// An integer, as its canonical decimal text (Python ints have no size limit).
    Int(String),
    Float(f64),
    /// A string as UTF-16 code units, as Python can hold a lone surrogate (`"\ud800"`), which
    /// it writes back unchanged; a pair is one character to Python and the same two escapes out.
    Str(Vec<u16>),
    Array(Vec<Value>),
    /// Keys in first-seen order; a repeated key replaces the value in place.
    Object(Vec<(Vec<u16>, Value)>),
}

/// Deepest nesting accepted (Python's default recursion limit allows about this much).
const MAX_DEPTH: usize = 900;

/// Re-formats the JSON `text` as Python's `json.dumps(json.loads(text), indent=indent)`.
pub fn format(text: &str, indent: usize) -> Result<String, FormatError> {
    let mut parser = Parser { text: text.as_bytes(), source: text, at: 0, depth: 0 };
    parser.skip_space();
    let value = parser.value()?;
    parser.skip_space();
    if parser.at < text.len() {
        return Err(parser.error("extra data after the JSON value"));
    }
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    write_value(&value, indent, 0, &mut out);
    Ok(out)
}

struct Parser<'a> {
    text: &'a [u8],
    source: &'a str,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> FormatError {
        FormatError::at_offset(self.source, self.at, reason)
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.text[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, FormatError> {
        match self.text.get(self.at) {
            None => Err(self.error("expected a value, found the end of the file")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Value::Null),
            Some(b'N') if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn nested(&mut self, parse: fn(&mut Self) -> Result<Value, FormatError>) -> Result<Value, FormatError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Value, FormatError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value()?);
            self.skip_space();
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    fn object(&mut self) -> Result<Value, FormatError> {
        self.at += 1;
        let mut members: Vec<(Vec<u16>, Value)> = Vec::new();
        self.skip_space();
        if self.eat("}") {
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            if self.text.get(self.at) != Some(&b'"') {
                return Err(self.error("expected a property name in double quotes"));
            }
            let key = self.string()?;
            self.skip_space();
            if !self.eat(":") {
                return Err(self.error("expected ':'"));
            }
            self.skip_space();
            let value = self.value()?;
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => members.push((key, value)),
            }
            self.skip_space();
            if self.eat("}") {
                return Ok(Value::Object(members));
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or '}'"));
            }
        }
    }

    fn string(&mut self) -> Result<Vec<u16>, FormatError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let start = self.at;
            while let Some(&b) = self.text.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.extend(self.source[start..self.at].encode_utf16());
            match self.text.get(self.at) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let unit = self.escape()?;
                    out.push(unit);
                }
                Some(_) => return Err(self.error("invalid control character in a string")),
            }
        }
    }

    /// The code unit of the escape after a backslash (`\uXXXX` gives its unit as it is: a pair
    /// of surrogates stays a pair, a lone one stays alone, as Python writes them back).
    fn escape(&mut self) -> Result<u16, FormatError> {
        let Some(&kind) = self.text.get(self.at) else { return Err(self.error("unterminated string")) };
        self.at += 1;
        let unit = match kind {
            b'"' => b'"' as u16,
            b'\\' => b'\\' as u16,
            b'/' => b'/' as u16,
            b'b' => 0x8,
            b'f' => 0xc,
            b'n' => b'\n' as u16,
            b'r' => b'\r' as u16,
            b't' => b'\t' as u16,
            b'u' => self.hex4()? as u16,
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        };
        Ok(unit)
    }

    fn hex4(&mut self) -> Result<u32, FormatError> {
        let digits = self.source.get(self.at..self.at + 4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else { return Err(self.error("invalid \\uXXXX escape")) };
        self.at += 4;
        Ok(u32::from_str_radix(digits, 16).expect("four hex digits"))
    }

    fn number(&mut self) -> Result<Value, FormatError> {
        let start = self.at;
        self.eat("-");
        match self.text.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        let mut float = false;
        if self.text.get(self.at) == Some(&b'.') && self.text.get(self.at + 1).is_some_and(u8::is_ascii_digit) {
            float = true;
            self.at += 1;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.text.get(self.at) {
            let mark = self.at;
            self.at += 1;
            if let Some(b'+' | b'-') = self.text.get(self.at) {
                self.at += 1;
            }
            if self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
                float = true;
                self.digits();
            } else {
                self.at = mark;
            }
        }
        let literal = &self.source[start..self.at];
        if float {
            let value: f64 = literal.parse().map_err(|_| self.error("invalid number"))?;
            return Ok(Value::Float(value));
        }
        let canonical = if literal == "-0" { "0" } else { literal };
        Ok(Value::Int(canonical.to_string()))
    }

    fn digits(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }
}

fn write_value(value: &Value, indent: usize, level: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(digits) => out.push_str(digits),
        Value::Float(x) => out.push_str(&float_repr(*x)),
        Value::Str(text) => write_string(text, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(members) if members.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                out.push_str(if n == 0 { "\n" } else { ",\n" });
                push_indent(indent, level + 1, out);
                write_value(item, indent, level + 1, out);
            }
            out.push('\n');
            push_indent(indent, level, out);
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (n, (key, item)) in members.iter().enumerate() {
                out.push_str(if n == 0 { "\n" } else { ",\n" });
                push_indent(indent, level + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, indent, level + 1, out);
            }
            out.push('\n');
            push_indent(indent, level, out);
            out.push('}');
        }
    }
}

fn push_indent(indent: usize, level: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent * level));
}

/// A string as Python's `ensure_ascii` encoder writes it.
fn write_string(units: &[u16], out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for &unit in units {
        match unit {
            0x22 => out.push_str("\\\""),
            0x5c => out.push_str("\\\\"),
            0x0a => out.push_str("\\n"),
            0x0d => out.push_str("\\r"),
            0x09 => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(unit as u8 as char),
            _ => {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out.push('"');
}

/// A float as Python's `repr`: the shortest digits that read back to the same value, in fixed
/// notation for decimal exponents from -4 to 15 (with `.0` when integral), else `d.ddde±XX`.
fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exponent_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    if point <= 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-point) as usize));
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789.123, "123456789.123"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (2.675, "2.675"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value}");
        }
    }

    #[test]
    fn layout_escapes_and_keys_follow_json_dump() {
        let text = r#"{"b": [1, 2.50, -0, 1E2, {}, []], "a": "é\u00e9😀\t\"", "b": null, "n": NaN, "big": 123456789012345678901234567890}"#;
        let expected = "{\n    \"b\": null,\n    \"a\": \"\\u00e9\\u00e9\\ud83d\\ude00\\t\\\"\",\n    \"n\": NaN,\n    \"big\": 123456789012345678901234567890\n}";
        assert_eq!(format(text, 4).unwrap(), expected);
        assert_eq!(
            format("[1,[2,[]],{\"k\":{}}]", 2).unwrap(),
            "[\n  1,\n  [\n    2,\n    []\n  ],\n  {\n    \"k\": {}\n  }\n]"
        );
        assert_eq!(format(" \"x\" ", 4).unwrap(), "\"x\"");
    }

    #[test]
    fn lone_surrogates_are_kept_as_python_keeps_them() {
        let text = r#"["\ud800", "\udc00x", "\ud83d\ude00", "a\ud83dz", {"\ud800": 1, "\ud800": 2}]"#;
        let expected =
            "[\n \"\\ud800\",\n \"\\udc00x\",\n \"\\ud83d\\ude00\",\n \"a\\ud83dz\",\n {\n  \"\\ud800\": 2\n }\n]";
        assert_eq!(format(text, 1).unwrap(), expected);
    }

    #[test]
    fn bad_json_says_where() {
        let error = format("[1,\n 2,,]", 4).unwrap_err();
        assert_eq!((error.line, error.column), (2, 4));
        assert!(format("{\"a\" 1}", 4).unwrap_err().reason.contains("expected ':'"));
        assert!(format("[1] x", 4).unwrap_err().reason.contains("extra data"));
        assert!(format(&"[".repeat(5000), 4).unwrap_err().reason.contains("nested too deeply"));
    }
}
