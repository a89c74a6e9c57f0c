//! Caption markup shared by the subtitle readers: tags, entities and time stamps.

use std::borrow::Cow;

/// Decodes HTML/WebVTT character references: named (`&amp; &lt; &gt; &quot; &apos; &nbsp; &lrm; &rlm;`)
/// and numeric (`&#233;`, `&#xE9;`). Unknown references are kept as written.
pub fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Only a short name can be a reference: look no further (a long text of `&`s stays linear).
        let end = after.bytes().take(11).position(|b| b == b';');
        let decoded = end.and_then(|e| entity(&after[..e]).map(|c| (c, e)));
        match decoded {
            Some((replacement, e)) => {
                out.push_str(replacement.as_ref());
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<Cow<'static, str>> {
    let named = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "lrm" => "\u{200e}",
        "rlm" => "\u{200f}",
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            return char::from_u32(code).map(|c| Cow::Owned(c.to_string()));
        }
    };
    Some(Cow::Borrowed(named))
}

/// Removes `<…>` tags and `{\…}` ASS override blocks; keeps a `<` that does not open a tag.
pub fn strip_tags(text: &str) -> Cow<'_, str> {
    if !text.contains(['<', '{']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(['<', '{']) {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (closer, is_tag) = match tail.strip_prefix('<') {
            Some(inner) => ('>', inner.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '/' || c == '.')),
            None => ('}', tail[1..].starts_with('\\')),
        };
        // A tag ends at its closer before any `<` or line end; stopping the search there keeps
        // text full of unclosed `<` or `{` linear.
        let close = if is_tag { tail[1..].find([closer, '<', '\n']).map(|at| at + 1) } else { None };
        match close {
            Some(close) if tail[close..].starts_with(closer) => rest = &tail[close + 1..],
            // An unclosed `{\…`: no `{` before the same stopping point closes either.
            stop if is_tag && closer == '}' => {
                let stop = stop.unwrap_or(tail.len());
                out.push_str(&tail[..stop]);
                rest = &tail[stop..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Collapses runs of spaces and tabs, trims each line, and drops empty lines.
pub fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let Some(first) = words.next() else { continue };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(first);
        for word in words {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

/// Parses a subtitle time stamp leniently: `[h:]m:s[.,:]fff`, any number of digits per field
/// (`0:0:3.540`, `120:00:00.000`, `00:01.5`), fullwidth digits and colons; returns seconds.
pub fn parse_timestamp(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    if raw.is_ascii() {
        return clock_seconds(raw);
    }
    let normalised: String = raw
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10).unwrap_or(c),
            '：' => ':',
            '，' | '．' => '.',
            c => c,
        })
        .collect();
    clock_seconds(&normalised)
}

/// Seconds of a `[-][h:]m:s[.,:]fff` time stamp in ASCII digits and separators (fullwidth forms
/// already replaced), read without allocating; `None` for anything else.
fn clock_seconds(text: &str) -> Option<f64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // The fraction follows the last '.' or ','; a third ':' also introduces it (`00:00:01:500`).
    let (clock, fraction) = match body.rfind(['.', ',']) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None if body.bytes().filter(|&b| b == b':').count() == 3 => body.rsplit_once(':')?,
        None => (body, ""),
    };
    let mut seconds = 0.0;
    let mut fields = 0;
    for field in clock.split(':') {
        fields += 1;
        if fields > 3 {
            return None;
        }
        seconds = seconds * 60.0 + digits_value(field)?;
    }
    if !fraction.is_empty() {
        // As exact as parsing `0.fff`: both integers are exact in f64, and division rounds once.
        let value = digits_value(fraction)?;
        seconds += match POWERS_OF_TEN.get(fraction.len()) {
            Some(power) => value / power,
            None => format!("0.{fraction}").parse::<f64>().ok()?,
        };
    }
    Some(if negative { -seconds } else { seconds })
}

/// 10^n for the fraction digits read exactly (up to 15, the digits `digits_value` sums exactly).
const POWERS_OF_TEN: [f64; 16] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The value of a non-empty run of ASCII digits.
fn digits_value(field: &str) -> Option<f64> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if field.len() <= 15 {
        return Some(field.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0')) as f64);
    }
    field.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_named_numeric_and_unknown() {
        assert_eq!(
            decode_entities("a &amp; b &lt;i&gt; &#233;&#xE9; &nbsp;&bogus; & x"),
            "a & b <i> éé \u{a0}&bogus; & x"
        );
    }

    #[test]
    fn tags_and_ass_overrides_are_removed_but_lone_brackets_stay() {
        assert_eq!(strip_tags("<i>Hello</i> <font color=\"red\">you</font>"), "Hello you");
        assert_eq!(strip_tags("{\\an8}Top <00:01.000><c.red>word</c>"), "Top word");
        assert_eq!(strip_tags("1 < 2 and {braces} stay"), "1 < 2 and {braces} stay");
    }

    #[test]
    fn timestamps_in_real_world_shapes() {
        assert_eq!(parse_timestamp("00:00:01.500"), Some(1.5));
        assert_eq!(parse_timestamp("00:01,5"), Some(1.5));
        assert_eq!(parse_timestamp("0:0:3.540"), Some(3.54));
        assert_eq!(parse_timestamp("120:00:00.000"), Some(432000.0));
        assert_eq!(parse_timestamp("00:00:01:500"), Some(1.5));
        assert_eq!(parse_timestamp("００：００：０２，０００"), Some(2.0));
        assert_eq!(parse_timestamp("-00:00:01.000"), Some(-1.0));
        assert_eq!(parse_timestamp("00:00:05"), Some(5.0));
        assert_eq!(parse_timestamp("1:2:3:4:5"), None);
        assert_eq!(parse_timestamp("soon"), None);
    }

    /// The time stamp read the way the non-ASCII path did before the ASCII path existed.
    fn seconds_by_parsing_text(stamp: &str) -> f64 {
        let (clock, fraction) = stamp.rsplit_once('.').unwrap();
        let whole = clock.split(':').fold(0.0, |seconds, field| seconds * 60.0 + field.parse::<f64>().unwrap());
        whole + format!("0.{fraction}").parse::<f64>().unwrap()
    }

    #[test]
    fn ascii_time_stamps_read_exactly_as_parsed_text() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..20_000 {
            let digits = 1 + next(9) as usize;
            let fraction = format!("{:0width$}", next(10u64.pow(digits as u32)), width = digits);
            let stamp = format!("{:02}:{:02}:{:02}.{fraction}", next(100), next(60), next(60));
            assert_eq!(
                parse_timestamp(&stamp).map(f64::to_bits),
                Some(seconds_by_parsing_text(&stamp).to_bits()),
                "{stamp}"
            );
        }
        assert_eq!(
            parse_timestamp("00:00:01.1234567890123456789"),
            Some(1.0 + "0.1234567890123456789".parse::<f64>().unwrap())
        );
    }

    #[test]
    fn lines_are_tidied() {
        assert_eq!(tidy_lines("  a   b \n \n\tc  "), "a b\nc");
        assert_eq!(tidy_lines("already tidy\nlines"), "already tidy\nlines");
        assert_eq!(tidy_lines(" \t \n"), "");
    }
}
