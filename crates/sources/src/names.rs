//! What a file name tells about its transcript: the YouTube video id and the language.
//!
//! Recognised shapes (yt-dlp's and youtube-transcript-api users' conventions):
//! `<id>.json`, `<id>.<lang>.json`, `Title [<id>].<lang>.vtt`; an id elsewhere in a name
//! (`<anything>-<id>.json`) is *not* taken (too many false positives). A language is a trailing dotted part that looks like a
//! BCP 47 tag whose primary subtag is an ISO 639-1 code (`en`, `en-GB`, `zh-Hant`, `es-419`).

/// What a document id's last path component says about the video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameHints {
    /// The YouTube video id, when the name carries one.
    pub video_id: Option<String>,
    /// The language tag, verbatim, when the name carries one.
    pub language: Option<String>,
}

/// Reads hints from a document id (its last `/` component is the file name without extension).
pub fn hints(doc_id: &str) -> NameHints {
    let name = doc_id.rsplit('/').next().unwrap_or(doc_id);
    let (stem, language) = match name.rsplit_once('.') {
        Some((stem, tag)) if is_language_tag(tag) => (stem, Some(tag.to_string())),
        _ => (name, None),
    };
    let video_id = bracketed_id(stem).or_else(|| {
        let first = stem.split('.').next().unwrap_or(stem);
        looks_like_bare_video_id(first).then(|| first.to_string())
    });
    NameHints { video_id, language }
}

/// Whether `s` has the shape of a YouTube video id: 11 characters of `[A-Za-z0-9_-]`.
pub fn looks_like_video_id(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether a whole file stem is taken as a video id: the shape of one, with both upper- and
/// lowercase letters (real ids are random, so nearly all have both; names such as `lecture_001`
/// or `INTRO-VIDEO` do not). Ids in brackets, as yt-dlp writes them, need only the shape.
pub fn looks_like_bare_video_id(s: &str) -> bool {
    looks_like_video_id(s) && s.bytes().any(|b| b.is_ascii_uppercase()) && s.bytes().any(|b| b.is_ascii_lowercase())
}

fn bracketed_id(stem: &str) -> Option<String> {
    let open = stem.rfind('[')?;
    let close = open + stem[open..].find(']')?;
    let inner = &stem[open + 1..close];
    looks_like_video_id(inner).then(|| inner.to_string())
}

/// Whether `tag` looks like a BCP 47 language tag with an ISO 639-1 primary subtag.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    if !ISO_639_1.contains(&primary) {
        return false;
    }
    parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh", "bi", "bm", "bn",
    "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en",
    "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he",
    "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv",
    "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li",
    "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne",
    "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm",
    "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st",
    "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk",
    "ur", "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn h(doc_id: &str) -> (Option<&str>, Option<&str>) {
        let hints = Box::leak(Box::new(hints(doc_id)));
        (hints.video_id.as_deref(), hints.language.as_deref())
    }

    #[test]
    fn plain_names_have_no_hints() {
        assert_eq!(h("python-for-hpc"), (None, None));
        assert_eq!(h("talks/lecture_001"), (None, None));
        assert_eq!(h("notes.final"), (None, None));
        assert_eq!(h("INTRO-VIDEO"), (None, None));
        assert_eq!(h("Talk [lecture_001]"), (Some("lecture_001"), None), "brackets are trusted");
    }

    #[test]
    fn ids_and_languages_are_found_in_common_shapes() {
        assert_eq!(h("dQw4w9WgXcQ"), (Some("dQw4w9WgXcQ"), None));
        assert_eq!(h("ch1/dQw4w9WgXcQ.en"), (Some("dQw4w9WgXcQ"), Some("en")));
        assert_eq!(h("Never Gonna [dQw4w9WgXcQ].en-GB"), (Some("dQw4w9WgXcQ"), Some("en-GB")));
        assert_eq!(h("x9_-AbCdEfG.zh-Hant"), (Some("x9_-AbCdEfG"), Some("zh-Hant")));
        assert_eq!(h("talk.es-419"), (None, Some("es-419")));
    }
}
