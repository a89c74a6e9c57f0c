//! `verbatim fmt`: byte-identical to CPython's `json.dump(data, f, indent=N)` (golden files made
//! by CPython, see tests/fixtures/fmt/README.md), `--check`, `--stdout`, and never a truncated file.

use std::path::{Path, PathBuf};

use crate::common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fmt").join(name)
}

#[test]
fn output_is_byte_identical_to_python_json_dump() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["escapes", "python-for-hpc", "ytt-api-real"] {
        for indent in ["4", "2"] {
            let copy = dir.path().join(format!("{name}-{indent}.json"));
            std::fs::copy(fixture(&format!("{name}.json")), &copy).unwrap();
            run_ok(&["fmt", "-q", "--indent", indent, &copy.to_string_lossy()]);
            let expected = std::fs::read(fixture(&format!("{name}.indent{indent}.json"))).unwrap();
            assert!(std::fs::read(&copy).unwrap() == expected, "{name} with indent {indent} differs from Python's");
        }
    }
    let printed = run_ok(&["fmt", "--stdout", &fixture("escapes.json").to_string_lossy()]);
    assert_eq!(printed.trim_end_matches('\n').as_bytes(), std::fs::read(fixture("escapes.indent4.json")).unwrap());
}

#[test]
fn check_lists_what_would_change_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let compact = dir.path().join("compact.json");
    std::fs::copy(fixture("ytt-api-real.json"), &compact).unwrap();
    let formatted = dir.path().join("formatted.json");
    std::fs::copy(fixture("python-for-hpc.json"), &formatted).unwrap();
    let output = run(&["fmt", "--check", &compact.to_string_lossy(), &formatted.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("would reformat") && said.contains("compact.json") && !said.contains("formatted.json"),
        "{said}"
    );
    assert_eq!(std::fs::read(&compact).unwrap(), std::fs::read(fixture("ytt-api-real.json")).unwrap());
    assert_eq!(
        run(&["fmt", "--check", &formatted.to_string_lossy()]).status.code(),
        Some(0),
        "the sample is formatted"
    );
}

#[test]
fn bad_files_say_where_keep_their_bytes_and_the_others_are_formatted() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.json", "[\n  {\"text\": \"a\"},\n  {\"text\" \"b\"}\n]");
    let missing = dir.path().join("missing.json");
    let mut good = Vec::new();
    for n in 0..40 {
        let path = dir.path().join(format!("good-{n}.json"));
        std::fs::copy(fixture("ytt-api-real.json"), &path).unwrap();
        good.push(path.to_string_lossy().into_owned());
    }
    let mut args = vec!["fmt".to_string(), "-j".into(), "2".into()];
    args.extend([broken.to_string_lossy().into_owned(), missing.to_string_lossy().into_owned()]);
    args.extend(good.iter().cloned());
    let output = verbatim().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:11: expected ':'", broken.display())), "{stderr}");
    assert!(stderr.contains("missing.json: No such file or directory"), "{stderr}");
    assert!(stderr.contains("reformatted 40 files, 0 already formatted, 2 failed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "[\n  {\"text\": \"a\"},\n  {\"text\" \"b\"}\n]",
        "untouched"
    );
    let expected = std::fs::read(fixture("ytt-api-real.indent4.json")).unwrap();
    assert!(good.iter().all(|path| std::fs::read(path).unwrap() == expected));
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".verbatim-fmt-"));
    assert_eq!(leftovers.count(), 0, "no temporary file is left behind");
}

#[test]
fn random_documents_match_python_json_dump() {
    // Random JSON made and formatted by CPython (which `tests/run` needs anyway), then by verbatim.
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import json, random, sys
random.seed(int(sys.argv[2]))
def value(depth):
    kind = random.randrange(9 if depth < 4 else 6)
    if kind == 0: return random.randrange(-10**25, 10**25)
    if kind == 1: return random.choice([0.0, -0.0, 1e-7, 1e16, 1e15, 0.0001, 0.00001, 2.5, 1/3]) * random.choice([1, -1, 10**random.randrange(-30, 30)])
    if kind == 2: return ''.join(chr(random.choice([random.randrange(0, 0x80), random.randrange(0x80, 0x3000), random.randrange(0x10000, 0x1F700)])) for _ in range(random.randrange(12)))
    if kind == 3: return random.choice([True, False, None])
    if kind == 4: return random.randrange(-5, 5)
    if kind == 5: return random.random() * 10 ** random.randrange(-8, 20)
    if kind == 6: return [value(depth + 1) for _ in range(random.randrange(5))]
    return {''.join(random.choice('abcé😀\n"') for _ in range(random.randrange(1, 5))): value(depth + 1) for _ in range(random.randrange(5))}
out = sys.argv[1]
for n in range(200):
    data = [value(0) for _ in range(3)]
    with open(f'{out}/{n}.json', 'w', encoding='utf-8') as f: json.dump(data, f, ensure_ascii=False, separators=(',', ':'))
    with open(f'{out}/{n}.expected', 'w', encoding='utf-8') as f: json.dump(data, f, indent=4)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script, &dir.path().to_string_lossy(), "20261125"])
        .status()
        .expect("this test needs python3 (tests/run needs it too)");
    assert!(status.success());
    let files: Vec<String> =
        (0..200).map(|n| dir.path().join(format!("{n}.json")).to_string_lossy().into_owned()).collect();
    let mut args = vec!["fmt", "-q"];
    args.extend(files.iter().map(String::as_str));
    run_ok(&args);
    for n in 0..200 {
        let ours = std::fs::read(dir.path().join(format!("{n}.json"))).unwrap();
        let python = std::fs::read(dir.path().join(format!("{n}.expected"))).unwrap();
        assert!(
            ours == python,
            "document {n} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&python)
        );
    }
}
