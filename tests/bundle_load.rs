//! `Bundle::load` on broken bundles written by tests/fixtures/make_bundle.py: every error
//! names the file and the cause, and nothing outside the bundle directory is read.
mod runtime_common;

use runtime_common::make_bundle;
use segstream::bundle::Bundle;
use std::path::Path;

fn load_error(dir: &Path, args: &[&str]) -> String {
    let d = make_bundle(dir, args);
    Bundle::load(&d).expect_err("a broken bundle must not load").to_string()
}

#[test]
fn valid_fixture_loads_its_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let b = Bundle::load(&make_bundle(dir.path(), &["--vocab-names", "disc,ring"])).unwrap();
    assert_eq!(b.vocabulary.names, ["disc", "ring"]);
}

#[test]
fn bad_vocabularies_name_the_file_and_the_cause() {
    let cases: [(&[&str], &str); 4] = [
        (&["--vocab-names", "disc,star,disc"], "class `disc` is listed twice (names 0 and 2)"),
        (&["--vocab-names="], "the vocabulary is empty: at least one class name is needed"),
        (&["--zero-embedding", "star"], "embedding of `star` is all zeros"),
        (&["--vocab-names", "disc,,star"], "class name 1 is empty"),
    ];
    for (args, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let e = load_error(dir.path(), args);
        let file = dir.path().join("vocabulary.json");
        assert!(e.starts_with(&format!("{}: {want}", file.display())), "{args:?}: {e}");
    }
}

#[test]
fn file_names_outside_the_bundle_are_manifest_errors() {
    let cases = [
        ("vocabulary=../../../etc/passwd", "[files] vocabulary = \"../../../etc/passwd\" leaves the bundle directory with `..`"),
        ("vocabulary=/etc/passwd", "[files] vocabulary = \"/etc/passwd\" is an absolute path"),
        ("image_encoder=/tmp/../etc/x.onnx", "[files] image_encoder = \"/tmp/../etc/x.onnx\" is an absolute path"),
        ("tokenizer=../tokenizer.json", "[files] tokenizer = \"../tokenizer.json\" leaves the bundle directory"),
    ];
    for (file, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let e = load_error(dir.path(), &["--file", file]);
        let manifest = dir.path().join("bundle.toml");
        assert!(e.starts_with(&format!("{}: {want}", manifest.display())), "{file}: {e}");
    }
}

/// A symbolic link placed in the bundle directory is followed, wherever it points: bundles
/// share large ONNX files that way; only the manifest's names are untrusted.
#[test]
fn symbolic_links_placed_in_the_bundle_are_followed() {
    let outer = tempfile::tempdir().unwrap();
    let d = make_bundle(&outer.path().join("bundle"), &[]);
    let elsewhere = outer.path().join("shared-vocabulary.json");
    std::fs::rename(d.join("vocabulary.json"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, d.join("vocabulary.json")).unwrap();
    assert_eq!(Bundle::load(&d).unwrap().vocabulary.len(), 4);
}
