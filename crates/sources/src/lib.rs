//! Where transcripts come from: expands the sources a user names (files, directories walked
//! recursively, glob patterns) into [`SourceFile`]s with stable document ids.
//!
//! A document id is the file's path relative to the folder the user gave (for a glob, the folder
//! before its first wildcard), with `/` separators and without the final extension, so same-named
//! files in different folders stay different documents. A file named directly gets its file stem.
//! [`names`] reads what a file name says about the video (YouTube id, language).

pub mod names;
mod remote;
pub mod stores;

pub use remote::{RemoteSource, StoreProblem, expand_remote};

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One transcript file to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file's path as found (absolute if the source was).
    pub path: PathBuf,
    /// The document id derived from the path relative to the source folder.
    pub doc_id: String,
    /// Size in bytes when listed.
    pub size: u64,
    /// For a file on an object store (`path` is then its URL): the store and the object.
    pub remote: Option<RemoteSource>,
}

/// A source that could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// A glob pattern is malformed.
    #[error("{pattern}: invalid glob pattern: {}", source.msg)]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        source: glob::PatternError,
    },
    /// A glob pattern matched no transcript file.
    #[error("{pattern}: no files match")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// Listing or opening an object store failed.
    #[error("{url}: {source}")]
    Store {
        /// The source URL as given.
        url: String,
        /// What failed.
        source: StoreProblem,
    },
    /// A folder holds no transcript file: treated as unreadable, because an unmounted drive or a
    /// failed sync looks exactly like this, and pruning would remove every document from it.
    #[error("{path}: the folder holds no transcript files (not mounted?)")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// An entry is neither a regular file nor a folder (a FIFO, socket or device): it cannot be
    /// read as a transcript, and its document must not look deleted.
    #[error("{path}: not a regular file ({kind}); cannot read it as a transcript")]
    NotAFile {
        /// The entry.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Reading a directory or file metadata failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The result of expanding sources: the files found and the sources that failed.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Files in a stable order (sources in the order given, each walked in name order), without duplicates.
    pub files: Vec<SourceFile>,
    /// Sources (or parts of them) that could not be read; the others are still expanded.
    pub problems: Vec<SourceError>,
}

impl Expansion {
    /// Total size in bytes of the files found.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Expands `sources` into files. Directories are walked recursively, skipping hidden entries and
/// keeping only files for which `wanted` is true; files named directly are always kept. An entry
/// that is not a regular file but is named like a transcript (`transcript_name`, judged by name
/// alone: such a file must not be opened) is reported as unreadable.
pub fn expand(
    sources: &[String],
    wanted: impl Fn(&Path) -> bool,
    transcript_name: impl Fn(&Path) -> bool,
) -> Expansion {
    let wanted = Wanted { file: &wanted, name: &transcript_name };
    let mut expansion = Expansion::default();
    let mut seen = HashSet::new();
    for source in sources {
        if is_glob(source) {
            expand_glob(source, &wanted, &mut expansion, &mut seen);
            continue;
        }
        let path = Path::new(source);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, path, &wanted, &mut expansion, &mut seen),
            Ok(meta) => {
                let doc_id = doc_id_for(path, path.parent().unwrap_or(Path::new("")));
                push_file(path.to_path_buf(), doc_id, &meta, &mut expansion, &mut seen);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                expansion.problems.push(SourceError::NotFound { path: source.clone() })
            }
            Err(source) => expansion.problems.push(SourceError::Io { path: path.to_path_buf(), source }),
        }
    }
    expansion
}

/// The document id of `path` relative to `base`: `/`-separated, final extension removed.
pub fn doc_id_for(path: &Path, base: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    let mut parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut()
        && let Some(dot) = last.rfind('.').filter(|&i| i > 0)
    {
        last.truncate(dot);
    }
    parts.retain(|p| p != "." && !p.is_empty());
    parts.join("/")
}

/// How patterns match paths and keys: `*` stays within one folder, as when listing.
pub(crate) const LISTING: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// The roots of a run's sources (folders, files and glob patterns as given), to tell whether an
/// archived document's source lies under them: what `ingest --prune` may remove.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    paths: Vec<String>,
    patterns: Vec<glob::Pattern>,
}

impl Roots {
    /// The roots of `sources` as given on the command line.
    pub fn new(sources: &[String]) -> Roots {
        let mut roots = Roots::default();
        for source in sources {
            match glob::Pattern::new(source).ok().filter(|_| is_glob(source)) {
                Some(pattern) => roots.patterns.push(pattern),
                None => {
                    let trimmed = source.trim_end_matches('/');
                    roots.paths.push(if trimmed.is_empty() { source.clone() } else { trimmed.to_string() });
                }
            }
        }
        roots
    }

    /// Whether `source` (a path as ingest recorded it) is one of the roots, lies in a root folder,
    /// or matches a root pattern. Compared as text: give the sources the same way every run.
    pub fn contains(&self, source: &str) -> bool {
        self.paths.iter().any(|root| {
            source == root
                || source.strip_prefix(root.as_str()).is_some_and(|rest| rest.starts_with('/') || root.ends_with('/'))
        }) || self.patterns.iter().any(|pattern| pattern.matches_with(source, LISTING))
    }
}

pub(crate) fn is_glob(source: &str) -> bool {
    source.contains(['*', '?', '['])
}

/// The folder part of a glob pattern before its first wildcard component.
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for component in Path::new(pattern).components() {
        if is_glob(&component.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(component);
    }
    if base.as_os_str() == pattern { base.parent().map(Path::to_path_buf).unwrap_or_default() } else { base }
}

fn expand_glob(pattern: &str, wanted: &Wanted<'_>, expansion: &mut Expansion, seen: &mut HashSet<FileKey>) {
    let paths = match glob::glob(pattern) {
        Ok(paths) => paths,
        Err(source) => {
            expansion.problems.push(SourceError::BadPattern { pattern: pattern.to_string(), source });
            return;
        }
    };
    let base = glob_base(pattern);
    let before = expansion.files.len();
    for entry in paths {
        match entry {
            Ok(path) if path.is_dir() => walk_dir(&path, &base, wanted, expansion, seen),
            Ok(path) => match std::fs::metadata(&path) {
                Ok(meta) => {
                    let doc_id = doc_id_for(&path, &base);
                    push_file(path, doc_id, &meta, expansion, seen)
                }
                Err(source) => expansion.problems.push(SourceError::Io { path, source }),
            },
            Err(e) => {
                let path = e.path().to_path_buf();
                expansion.problems.push(SourceError::Io { path, source: e.into() })
            }
        }
    }
    if expansion.files.len() == before {
        expansion.problems.push(SourceError::NoMatch { pattern: pattern.to_string() });
    }
}

/// What a walk keeps: files for which `file` holds, and (to report) special entries for which
/// `name` holds.
struct Wanted<'a> {
    file: &'a dyn Fn(&Path) -> bool,
    name: &'a dyn Fn(&Path) -> bool,
}

fn walk_dir(dir: &Path, base: &Path, wanted: &Wanted<'_>, expansion: &mut Expansion, seen: &mut HashSet<FileKey>) {
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    // Counted here rather than from the files pushed: a file already found through another
    // source is not pushed twice, yet the folder is not empty.
    let mut found = 0usize;
    let problems_before = expansion.problems.len();
    for entry in walker {
        match entry {
            // Checked before `wanted.file`, which may open the file: opening a FIFO blocks.
            Ok(entry) if is_special(entry.file_type()) && (wanted.name)(entry.path()) => {
                let kind = special_kind(entry.file_type());
                expansion.problems.push(SourceError::NotAFile { path: entry.into_path(), kind })
            }
            Ok(entry) if entry.file_type().is_file() && (wanted.file)(entry.path()) => match entry.metadata() {
                Ok(meta) => {
                    found += 1;
                    let doc_id = doc_id_for(entry.path(), base);
                    push_file(entry.into_path(), doc_id, &meta, expansion, seen)
                }
                Err(e) => {
                    let path = entry.path().to_path_buf();
                    expansion.problems.push(SourceError::Io { path, source: e.into() })
                }
            },
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
                expansion.problems.push(SourceError::Io { path, source: e.into() })
            }
        }
    }
    if found == 0 && expansion.problems.len() == problems_before {
        expansion.problems.push(SourceError::Empty { path: dir.to_path_buf() });
    }
}

/// Whether a walked entry is neither a regular file nor a folder.
fn is_special(file_type: std::fs::FileType) -> bool {
    !file_type.is_file() && !file_type.is_dir() && !file_type.is_symlink()
}

/// What kind of special file `file_type` is, in words.
fn special_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    let _ = file_type;
    "a special file"
}

fn push_file(
    path: PathBuf,
    doc_id: String,
    meta: &std::fs::Metadata,
    expansion: &mut Expansion,
    seen: &mut HashSet<FileKey>,
) {
    if seen.insert(FileKey::of(&path, meta)) {
        expansion.files.push(SourceFile { path, doc_id, size: meta.len(), remote: None });
    }
}

/// What makes two names the same file, so that a file named twice (overlapping sources, links)
/// is read once: its device and inode where there are such, else its canonical path. The inode
/// comes with the metadata already read, where canonicalising would cost a system call per path
/// component of every file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileKey {
    #[cfg(unix)]
    Inode { dev: u64, ino: u64 },
    #[cfg_attr(unix, allow(dead_code))]
    Path(PathBuf),
}

impl FileKey {
    #[cfg(unix)]
    fn of(_path: &Path, meta: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey::Inode { dev: meta.dev(), ino: meta.ino() }
    }

    #[cfg(not(unix))]
    fn of(path: &Path, _meta: &std::fs::Metadata) -> FileKey {
        FileKey::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_hold_what_lies_under_them_and_nothing_beside() {
        let roots = Roots::new(&["talks/".into(), "one.json".into(), "caps/*.vtt".into(), "/".into()]);
        assert!(roots.contains("talks/a.json") && roots.contains("talks/x/b.json"));
        assert!(!roots.contains("talks2/a.json"));
        assert!(roots.contains("one.json") && !roots.contains("one.json.gz"));
        assert!(roots.contains("caps/a.vtt") && !roots.contains("caps/a.srt"));
        assert!(!roots.contains("caps/2024/a.vtt"), "a glob's * stays within its folder, as when listing");
        assert!(roots.contains("/abs/file.json"));
        assert!(!Roots::new(&["talks".into()]).contains("elsewhere/talks/a.json"));
    }

    fn touch(root: &Path, relative: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"[]").unwrap();
    }

    fn json(p: &Path) -> bool {
        p.extension().is_some_and(|e| e == "json")
    }

    fn ids(expansion: &Expansion) -> Vec<&str> {
        expansion.files.iter().map(|f| f.doc_id.as_str()).collect()
    }

    #[test]
    fn directories_give_relative_ids_and_keep_same_names_apart() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "python-for-hpc.json");
        touch(dir.path(), "a/talk.json");
        touch(dir.path(), "b/talk.json");
        touch(dir.path(), "b/notes.txt");
        touch(dir.path(), ".hidden/x.json");
        let expansion = expand(&[dir.path().to_string_lossy().into_owned()], json, json);
        assert!(expansion.problems.is_empty());
        assert_eq!(ids(&expansion), ["a/talk", "b/talk", "python-for-hpc"]);
    }

    #[test]
    fn a_file_given_directly_gets_its_stem_and_duplicates_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "x/python-for-hpc.json");
        let file = dir.path().join("x/python-for-hpc.json").to_string_lossy().into_owned();
        let folder = dir.path().to_string_lossy().into_owned();
        let expansion = expand(&[file, folder], json, json);
        assert_eq!(ids(&expansion), ["python-for-hpc"]);
    }

    #[test]
    fn globs_are_relative_to_the_folder_before_the_first_wildcard() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "ch1/v1.en.json");
        touch(dir.path(), "ch2/v2.json");
        let pattern = format!("{}/*/*.json", dir.path().display());
        let expansion = expand(&[pattern], json, json);
        assert_eq!(ids(&expansion), ["ch1/v1.en", "ch2/v2"]);
    }

    #[test]
    fn missing_paths_and_empty_globs_are_reported_and_do_not_stop_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "ok.json");
        let sources = [
            dir.path().join("missing.json").to_string_lossy().into_owned(),
            format!("{}/*.nothing", dir.path().display()),
            dir.path().join("ok.json").to_string_lossy().into_owned(),
        ];
        let expansion = expand(&sources, json, json);
        assert_eq!(ids(&expansion), ["ok"]);
        assert_eq!(expansion.problems.len(), 2);
        assert!(expansion.problems[0].to_string().contains("no such file"));
        assert!(expansion.problems[1].to_string().contains("no files match"));
    }
}
