//! The committed fuzz corpora of the plugin's parsers (the `segstream-command` event, the
//! results meta reader, the `segstream run` config), replayed on stable `cargo test`.
//! The bodies are the fuzz targets' own (fuzz/bodies/plugin.rs); see docs/FUZZING.md.
#[path = "../../fuzz/bodies/plugin.rs"]
mod bodies;
const CORPUS_ROOT: &str = "../fuzz/corpus";
#[path = "../../fuzz/replay/replay.rs"]
mod replay;

fn run(target: &str) {
    replay::replay(&bodies::TARGETS, target);
}

#[test]
fn command_event() {
    run("command_event");
}

#[test]
fn meta_reader() {
    run("meta_reader");
}

#[test]
fn run_config() {
    run("run_config");
}

/// The corpus's oversized mask (3e9 x 2e9 pixels, an RLE that adds up to exactly that) is
/// refused by the reader's size limit before the decoder allocates.
#[test]
fn oversized_mask_seed_hits_the_size_limit() {
    gst::init().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_ROOT).join("meta_reader/oversized_mask");
    let text = std::fs::read_to_string(path).unwrap();
    let e = gstsegstream::meta::from_structure(&text.parse::<gst::Structure>().unwrap()).unwrap_err();
    assert_eq!(e, "objects[0]: SegstreamObjectsMeta: mask of 3000000000x2000000014 exceeds the 8192x8192 limit");
}

#[test]
fn every_fuzz_target_is_replayed() {
    replay::check_all_listed("plugin", &bodies::TARGETS);
}
