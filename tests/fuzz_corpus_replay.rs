//! The committed fuzz corpora of the core crate's parsers, replayed on stable `cargo test`
//! (no libFuzzer, no sanitizer): an input that once broke a parser keeps failing here.
//! The bodies are the fuzz targets' own (fuzz/bodies/core.rs); see docs/FUZZING.md.
#[path = "../fuzz/bodies/core.rs"]
mod bodies;
const CORPUS_ROOT: &str = "fuzz/corpus";
#[path = "../fuzz/replay/replay.rs"]
mod replay;

fn run(target: &str) {
    replay::replay(&bodies::TARGETS, target);
}

#[test]
fn command_json() {
    run("command_json");
}

#[test]
fn rle_decode() {
    run("rle_decode");
}

#[test]
fn spool_file() {
    run("spool_file");
}

#[test]
fn bundle_toml() {
    run("bundle_toml");
}

#[test]
fn vocabulary_json() {
    run("vocabulary_json");
}

#[test]
fn every_fuzz_target_is_replayed() {
    replay::check_all_listed("core", &bodies::TARGETS);
}
