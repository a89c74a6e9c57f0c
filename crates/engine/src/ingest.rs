//! Ingesting sources into the engine's archive: naming the sources (files, folders, globs and
//! object store URLs), sizing the run from the settings and the budget, and running it.

use std::sync::Arc;
use std::time::Duration;

use verbatim_ingest::{IngestOptions, IngestReport, Progress, is_transcript_file, is_transcript_key};
use verbatim_sources::{Expansion, SourceError};

use crate::{Engine, Error};

/// What to ingest, and how.
#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    /// Files, folders, globs and object store URLs.
    pub sources: Vec<String>,
    /// Remove archived documents whose source lies under one of `sources` but is gone.
    pub prune: bool,
    /// Read every file as this format instead of judging by name and content.
    pub input_format: Option<verbatim_formats::Format>,
    /// Decode text with this encoding instead of detecting it.
    pub encoding: Option<&'static verbatim_formats::decode::Encoding>,
    /// Reject files that break their format's rules instead of reading what can be read.
    pub strict: bool,
    /// Commit at most this often during the run rather than once at its end.
    pub commit_every: Option<Duration>,
    /// Vacuum after the run (with the settings' retention).
    pub vacuum: bool,
}

/// What an ingest did.
#[derive(Debug)]
pub struct IngestOutcome {
    /// The run's report.
    pub report: IngestReport,
    /// Sources that could not be listed (each also means nothing was pruned under it).
    pub unlisted: Vec<SourceError>,
}

impl Engine {
    /// Ingests `request.sources` into the archive, reporting to `progress`. Bad files become
    /// rejects; sources that cannot be listed are reported in the outcome, and then nothing is
    /// pruned (they would look vanished).
    pub async fn ingest(&self, request: &IngestRequest, progress: Arc<dyn Progress>) -> Result<IngestOutcome, Error> {
        let mut options = self.ingest_options(request);
        let expansion = self.expand_sources(&request.sources).await;
        if !expansion.problems.is_empty() {
            options.prune_under.clear();
        }
        let report = verbatim_ingest::ingest(self.archive(), expansion.files, &options, progress).await?;
        Ok(IngestOutcome { report, unlisted: expansion.problems })
    }

    /// How a run of `request` goes under the engine's settings.
    pub fn ingest_options(&self, request: &IngestRequest) -> IngestOptions {
        let settings = self.settings();
        let mut options = IngestOptions::new(settings.threads, settings.budget(), settings.chunk_size);
        if let Some(row_group) = settings.row_group_size {
            options.row_group_bytes = row_group;
        }
        options.zstd_level = settings.zstd_level;
        options.phrase_index = settings.phrase_index;
        options.input_format = request.input_format;
        options.read.encoding = request.encoding;
        options.read.strict = request.strict;
        options.commit_every = request.commit_every;
        options.vacuum = request.vacuum.then_some(settings.retention);
        options.compact_at_runs = settings.compact.at_runs();
        if request.prune {
            options.prune_under = request.sources.clone();
            options.max_prune = settings.max_delete;
        }
        options
    }

    /// The files of local sources (files, folders, globs) and object store URLs (objects,
    /// prefixes, globs over keys), with the sources that could not be listed.
    async fn expand_sources(&self, sources: &[String]) -> Expansion {
        let (remote, local): (Vec<String>, Vec<String>) =
            sources.iter().cloned().partition(|source| verbatim_sources::stores::is_store_url(source));
        let mut expansion = verbatim_sources::expand(&local, is_transcript_file, is_transcript_key);
        if !remote.is_empty() {
            let found = verbatim_sources::expand_remote(&remote, &self.settings().storage, is_transcript_key).await;
            expansion.files.extend(found.files);
            expansion.problems.extend(found.problems);
        }
        expansion
    }
}
