//! yt-dlp sidecars: `<id>.info.json` beside `<id>.<lang>.vtt` holds what the captions lack —
//! title, channel, upload date, language, and whether the track was generated automatically
//! (the language is among the info's `automatic_captions` rather than its `subtitles`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use verbatim_model::TranscriptMeta;

/// The sidecar of a transcript file, if one exists: `<stem>.info.json`, trying the name
/// without its extension, then without its language part as well.
pub fn find(transcript: &Path) -> Option<PathBuf> {
    let name = transcript.file_name()?.to_str()?;
    let mut stem = name;
    for _ in 0..3 {
        stem = stem.rsplit_once('.')?.0;
        let candidate = transcript.with_file_name(format!("{stem}.info.json"));
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    None
}

/// Reads the metadata a sidecar holds for the track in `language` (the transcript's language tag).
pub fn read(sidecar: &Path, language: Option<&str>) -> Option<TranscriptMeta> {
    // yt-dlp's info files are a few MiB at most; anything far larger is not one.
    const MAX_SIDECAR_BYTES: u64 = 64 << 20;
    if std::fs::metadata(sidecar).ok()?.len() > MAX_SIDECAR_BYTES {
        return None;
    }
    let bytes = std::fs::read(sidecar).ok()?;
    let info: Value = serde_json::from_slice(&bytes).ok()?;
    let text = |key: &str| info.get(key).and_then(Value::as_str).map(str::to_string);
    let in_map = |map: &str| language.is_some_and(|l| info.get(map).and_then(|m| m.get(l)).is_some());
    let is_generated = match (in_map("subtitles"), in_map("automatic_captions")) {
        (true, _) => Some(false),
        (false, true) => Some(true),
        _ => None,
    };
    Some(TranscriptMeta {
        video_id: text("id"),
        language: language.map(str::to_string).or_else(|| text("language")),
        is_generated,
        title: text("title").or_else(|| text("fulltitle")),
        channel: text("channel").or_else(|| text("uploader")),
        published_at: info.get("upload_date").and_then(crate::jsonl::date),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_fills_title_channel_date_and_whether_generated() {
        let dir = std::env::temp_dir().join(format!("verbatim-sidecar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vtt = dir.join("dQw4w9WgXcQ.en.vtt");
        std::fs::write(&vtt, "WEBVTT\n").unwrap();
        std::fs::write(
            dir.join("dQw4w9WgXcQ.info.json"),
            r#"{"id": "dQw4w9WgXcQ", "title": "Never Gonna", "channel": "Rick Astley", "upload_date": "20091025",
                "subtitles": {"de": []}, "automatic_captions": {"en": [], "de": []}}"#,
        )
        .unwrap();
        let sidecar = find(&vtt).expect("found without the language part");
        let meta = read(&sidecar, Some("en")).unwrap();
        assert_eq!(meta.title.as_deref(), Some("Never Gonna"));
        assert_eq!(meta.published_at.as_deref(), Some("2009-10-25"));
        assert_eq!(meta.is_generated, Some(true));
        assert_eq!(read(&sidecar, Some("de")).unwrap().is_generated, Some(false));
        assert!(find(&dir.join("other.vtt")).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
