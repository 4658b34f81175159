//! Runs a fuzz target body over every file of its committed corpus (`fuzz/corpus/<target>/`),
//! naming the file whose input panics. Included with `#[path]` by the corpus replay tests.
use super::CORPUS_ROOT;
use std::path::{Path, PathBuf};

/// A fuzz target body.
type Body = fn(&[u8]);

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_ROOT).join(target)
}

/// Replays one target; returns how many inputs ran (at least one: a corpus that vanished
/// would otherwise pass silently).
pub fn replay(targets: &[(&str, Body)], target: &str) -> usize {
    let body = targets.iter().find(|(n, _)| *n == target).unwrap_or_else(|| panic!("no fuzz target {target}")).1;
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!("fuzz target {target} panicked on {}", f.display());
        }
    }
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files.len()
}

/// Every fuzz target (`fuzz/fuzz_targets/*.rs`) calling a body of `module` (`core` or
/// `plugin`) is listed in that module's `TARGETS`, so a new target cannot miss its replay.
pub fn check_all_listed(module: &str, targets: &[(&str, Body)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_ROOT).join("../fuzz_targets");
    let prefix = format!("segstream_fuzz::{module}::");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("fuzz target entry").path();
        let source = std::fs::read_to_string(&path).expect("fuzz target source");
        let Some(rest) = source.split(&prefix).nth(1) else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        assert!(targets.iter().any(|(n, _)| *n == name), "{} calls {prefix}{name}, which TARGETS does not list", path.display());
        assert_eq!(path.file_stem().and_then(|s| s.to_str()), Some(name.as_str()), "target file and body are named alike");
        seen += 1;
    }
    assert_eq!(seen, targets.len(), "TARGETS of {module} lists a body no fuzz target calls");
}
