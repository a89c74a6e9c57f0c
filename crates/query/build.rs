//! Embeds the saved queries of the repository's `queries/` folder into the binary.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let queries = manifest_dir.join("../../queries");
    println!("cargo:rerun-if-changed={}", queries.display());
    let mut entries: Vec<_> = std::fs::read_dir(&queries)
        .expect("queries/ exists beside crates/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    entries.sort();
    let mut code = String::from(
        "/// Saved queries shipped with verbatim: (name, SQL text).\npub const BUILTIN: &[(&str, &str)] = &[\n",
    );
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_stem().expect("file has a stem").to_string_lossy().into_owned();
        let absolute = std::fs::canonicalize(&path).expect("query file exists");
        writeln!(code, "    ({name:?}, include_str!({:?})),", absolute.display().to_string()).expect("write to string");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("builtin_queries.rs");
    std::fs::write(out, code).expect("write generated code");
}
