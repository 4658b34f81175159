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
