//! Real-speech corpora of any size, from transcripts of real speech as timestamped speaker turns
//! (`[Speaker] [MM:SS] text`, e.g. the Oxide and Friends podcast in `benches/corpora`): real
//! words, sentence lengths and speaker turns, cut into caption-sized snippets with the
//! overlapping durations of YouTube auto-captions. The episodes are repeated with shifted windows
//! (each round starts every episode at a different turn) and new document ids until the size is
//! reached. Most files are youtube-transcript-api JSON; every tenth is WebVTT with `<v>` voices and
//! every tenth (offset by five) WhisperX JSON with speakers.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{GenError, GenReport};

/// One speaker turn of an episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Who speaks.
    pub speaker: String,
    /// Start in milliseconds.
    pub start_ms: i64,
    /// What is said.
    pub text: String,
}

/// One episode: its name and turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The file stem, used in document ids.
    pub name: String,
    /// Its turns, in order.
    pub turns: Vec<Turn>,
}

/// Reads every `*.txt` file under `dir` as speaker turns (files that are not are skipped).
pub fn read_episodes(dir: &Path) -> Result<Vec<Episode>, GenError> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
        move |source| GenError { path: path.to_path_buf(), source }
    }
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io(&folder))? {
            let path = entry.map_err(io(&folder))?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "txt") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut episodes = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let Ok(transcripts) = verbatim_formats::turns::parse(&text, false) else { continue };
        let turns: Vec<Turn> = transcripts
            .iter()
            .flat_map(|t| &t.snippets)
            .filter(|s| !s.text.trim().is_empty())
            .map(|s| Turn {
                speaker: s.speaker.as_deref().unwrap_or_default().to_string(),
                start_ms: (s.start * 1000.0) as i64,
                text: s.text.to_string(),
            })
            .collect();
        if turns.len() > 1 {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            episodes.push(Episode { name, turns });
        }
    }
    Ok(episodes)
}

/// A caption: start and duration in milliseconds, text, speaker.
struct Snippet<'a> {
    start_ms: i64,
    duration_ms: i64,
    text: String,
    speaker: &'a str,
}

/// The episode's turns from `offset` on (wrapping), with times made continuous, cut into
/// snippets of 4 to 10 words whose durations overlap the next snippet like auto-captions.
fn snippets<'a>(episode: &'a Episode, offset: usize, rng: &mut ChaCha8Rng) -> Vec<Snippet<'a>> {
    let n = episode.turns.len();
    let gap = |i: usize| -> i64 {
        let (this, next) = (&episode.turns[i % n], &episode.turns[(i + 1) % n]);
        let words = this.text.split_whitespace().count() as i64;
        let gap = next.start_ms - this.start_ms;
        if gap > 0 { gap } else { (words * 350).max(1000) }
    };
    let mut out: Vec<Snippet<'a>> = Vec::new();
    let mut clock = 0i64;
    for step in 0..n {
        let index = (offset + step) % n;
        let turn = &episode.turns[index];
        let span = gap(index);
        let words: Vec<&str> = turn.text.split_whitespace().collect();
        let mut at = 0usize;
        while at < words.len() {
            let take = rng.random_range(4..=10).min(words.len() - at);
            let start = clock + span * at as i64 / words.len() as i64;
            out.push(Snippet {
                start_ms: start,
                duration_ms: 0,
                text: words[at..at + take].join(" "),
                speaker: &turn.speaker,
            });
            at += take;
        }
        clock += span;
    }
    // Auto-caption durations: each runs on past the next caption's start.
    for i in 0..out.len() {
        let next = out.get(i + 1).map_or(out[i].start_ms + 2000, |s| s.start_ms);
        out[i].duration_ms = (next - out[i].start_ms).max(200) + rng.random_range(0..1500);
    }
    out
}

fn youtube_json(snippets: &[Snippet<'_>]) -> Vec<u8> {
    let values: Vec<serde_json::Value> = snippets
        .iter()
        .map(|s| {
            serde_json::json!({"text": s.text, "start": s.start_ms as f64 / 1000.0, "duration": s.duration_ms as f64 / 1000.0})
        })
        .collect();
    serde_json::to_vec(&values).expect("JSON serialises")
}

fn webvtt(snippets: &[Snippet<'_>]) -> Vec<u8> {
    let clock =
        |ms: i64| format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = b"WEBVTT\n\n".to_vec();
    for s in snippets {
        let text = s.text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let _ =
            write!(out, "{} --> {}\n<v {}>{text}\n\n", clock(s.start_ms), clock(s.start_ms + s.duration_ms), s.speaker);
    }
    out
}

fn whisperx(snippets: &[Snippet<'_>]) -> Vec<u8> {
    let segments: Vec<serde_json::Value> = snippets
        .iter()
        .map(|s| {
            serde_json::json!({"start": s.start_ms as f64 / 1000.0, "end": (s.start_ms + s.duration_ms) as f64 / 1000.0,
                               "text": s.text, "speaker": s.speaker})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "segments": segments, "language": "en" })).expect("JSON serialises")
}

/// Writes about `size` bytes of real-speech transcripts made from `episodes` into `out`
/// (`round-<r>/<episode>.en.json`, `.vtt`, `.whisperx.json`); the same inputs, size and seed give
/// the same files. `progress` is called with the bytes of each file written.
pub fn generate_speech(
    episodes: &[Episode],
    out: &Path,
    size: u64,
    seed: u64,
    progress: &dyn Fn(u64),
) -> Result<GenReport, GenError> {
    let mut report = GenReport::default();
    if episodes.is_empty() {
        return Ok(report);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut round = 0usize;
    let mut file = 0u64;
    while report.bytes < size {
        let folder = out.join(format!("round-{round:03}"));
        std::fs::create_dir_all(&folder).map_err(|source| GenError { path: folder.clone(), source })?;
        for (index, episode) in episodes.iter().enumerate() {
            if report.bytes >= size {
                break;
            }
            let offset = (round * 37 + index * 11) % episode.turns.len();
            let offset = if round == 0 { 0 } else { offset };
            let cut = snippets(episode, offset, &mut rng);
            let (name, bytes): (PathBuf, Vec<u8>) = match file % 10 {
                3 => (folder.join(format!("{}.vtt", episode.name)), webvtt(&cut)),
                8 => (folder.join(format!("{}.whisperx.json", episode.name)), whisperx(&cut)),
                _ => (folder.join(format!("{}.en.json", episode.name)), youtube_json(&cut)),
            };
            std::fs::write(&name, &bytes).map_err(|source| GenError { path: name.clone(), source })?;
            report.files += 1;
            report.bytes += bytes.len() as u64;
            report.snippets += cut.len() as u64;
            progress(bytes.len() as u64);
            file += 1;
        }
        round += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode() -> Episode {
        let turns = (0..6)
            .map(|i| Turn {
                speaker: format!("Speaker {}", i % 2 + 1),
                start_ms: i * 10_000,
                text: "one two three four five six seven eight nine ten eleven twelve".into(),
            })
            .collect();
        Episode { name: "ep".into(), turns }
    }

    #[test]
    fn snippets_are_caption_sized_and_overlap_like_auto_captions() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let episode = episode();
        let cut = snippets(&episode, 2, &mut rng);
        assert!(cut.iter().all(|s| (1..=10).contains(&s.text.split_whitespace().count())));
        assert!(cut.windows(2).all(|w| w[0].start_ms <= w[1].start_ms), "in time order");
        assert!(cut.windows(2).all(|w| w[0].start_ms + w[0].duration_ms >= w[1].start_ms), "durations overlap");
        assert_eq!(cut.iter().map(|s| s.text.split_whitespace().count()).sum::<usize>(), 6 * 12, "every word");
        assert_eq!(cut[0].speaker, "Speaker 1", "the window starts at turn 2");
    }

    #[test]
    fn the_same_seed_gives_the_same_files_up_to_the_size() {
        let dir = std::env::temp_dir().join(format!("verbatim-speech-{}", std::process::id()));
        let episodes = vec![episode(), Episode { name: "other".into(), ..episode() }];
        let first = generate_speech(&episodes, &dir.join("a"), 20_000, 7, &|_| {}).unwrap();
        let second = generate_speech(&episodes, &dir.join("b"), 20_000, 7, &|_| {}).unwrap();
        assert_eq!(first, second);
        assert!(first.bytes >= 20_000 && first.files > 4);
        let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
        assert_eq!(read("a/round-000/ep.en.json"), read("b/round-000/ep.en.json"));
        assert!(String::from_utf8(read("a/round-001/other.vtt")).unwrap().contains("<v Speaker"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
