//! Integration tests of the `verbatim` binary, in one test binary (one link instead of many).

mod common;

mod cli;
mod cluster;
mod corpus_query;
mod crash;
mod export;
mod fmt;
mod formats;
mod ingest;
mod integrity;
mod nightly;
mod s3;
mod search;
mod serve;
mod shell;
mod spill;
