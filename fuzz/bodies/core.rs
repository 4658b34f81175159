//! Fuzz target bodies for the core crate's parsers of outside input.
//!
//! Each body takes raw bytes, runs one parser and asserts what the parser promises about
//! its result (a round trip, a bound). It panics only on a real bug. The same functions run
//! under libFuzzer (`fuzz/fuzz_targets/*.rs`) and over the committed corpora in plain
//! `cargo test` (`tests/fuzz_corpus_replay.rs`), which includes this file with `#[path]`.
use segstream::bundle::{parse_vocabulary, Manifest};
use segstream::command::{validate, CommandContext, Request};
use segstream::mqtt::spool::{Spool, SpoolConfig};
use segstream::rle::{self, Rle};
use std::path::{Component, Path};

/// A target body: runs one parser on raw input.
pub type Body = fn(&[u8]);

/// Target name -> body, in the order of docs/FUZZING.md.
pub const TARGETS: [(&str, Body); 5] = [
    ("command_json", command_json),
    ("rle_decode", rle_decode),
    ("spool_file", spool_file),
    ("bundle_toml", bundle_toml),
    ("vocabulary_json", vocabulary_json),
];

/// An MQTT command message: validation against a 320x240 stream at frame 10 with tracks
/// 1 and 2; a valid command must survive its canonical JSON (the `segment` event's form).
pub fn command_json(data: &[u8]) {
    let ctx = CommandContext { frame_size: Some((320, 240)), frame: Some(10), known_ids: [1, 2].into_iter().collect() };
    match validate(data, &ctx) {
        Ok(req) => {
            let json = req.to_json();
            let back = Request::parse(json.as_bytes()).unwrap_or_else(|e| panic!("canonical JSON {json} does not parse: {e}"));
            assert_eq!(back, req, "round trip through {json}");
        }
        Err(e) => assert!(!e.message.is_empty(), "an error without a message"),
    }
    // `segment` parses the event's JSON with no context at all; what parses reads back.
    if let Ok(req) = Request::parse(data) {
        assert_eq!(Request::parse(req.to_json().as_bytes()).as_ref(), Ok(&req), "round trip of {}", req.to_json());
    }
}

/// A COCO RLE: byte 0 = height, byte 1 = width (small, so allocations stay small), the
/// rest is the counts string. A decoded mask re-encodes to the same mask.
pub fn rle_decode(data: &[u8]) {
    let [h, w, rest @ ..] = data else { return };
    let counts = String::from_utf8_lossy(rest).into_owned();
    let scanned = rle::for_each_run(&counts, |_| ());
    let rle = Rle { size: [*h as usize, *w as usize], counts };
    if let Ok(mask) = rle::decode(&rle) {
        assert!(scanned.is_ok(), "decode accepted counts for_each_run refused");
        assert_eq!((mask.height, mask.width), (*h as usize, *w as usize));
        let again = rle::decode(&rle::encode(&mask)).expect("our own encoding decodes");
        assert_eq!(again, mask, "decode(encode(m)) != m");
    }
}

thread_local! {
    /// One directory per thread, emptied before each input: a new one per input made the
    /// target 10x slower.
    static SPOOL_DIR: tempfile::TempDir = tempfile::tempdir().expect("temporary directory");
}

/// A file in the spool directory: the first line of the input is its file name, the rest
/// its contents. Opening the spool, draining it and queueing one more message must work
/// whatever a previous run (or anyone with access to the directory) left there.
pub fn spool_file(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let name: String = String::from_utf8_lossy(&data[..split]).chars().filter(|c| *c != '/' && *c != '\0').collect();
    let contents = data.get(split + 1..).unwrap_or_default();
    let dir = SPOOL_DIR.with(|d| d.path().to_path_buf());
    for entry in std::fs::read_dir(&dir).expect("spool directory") {
        std::fs::remove_file(entry.expect("entry").path()).expect("emptying the spool directory");
    }
    if !name.is_empty() && name != "." && name != ".." && name.len() < 200 {
        std::fs::write(dir.join(&name), contents).expect("writing the spool file");
    }
    let cfg = SpoolConfig { dir, max_bytes: 1 << 20, max_age: std::time::Duration::from_secs(3600) };
    let mut spool = Spool::open(cfg).expect("a readable spool directory opens");
    let mut seen = 0;
    while let (Some(_), _) = spool.front() {
        spool.pop_front();
        seen += 1;
        assert!(seen <= 1, "one file gave more than one message");
    }
    assert!(spool.is_empty() && spool.bytes() == 0, "a drained spool still counts {} bytes", spool.bytes());
    let pushed = spool.push("t", b"after").expect("pushing after a drain");
    assert!(pushed.stored);
    assert_eq!(spool.front().0.map(|i| i.payload), Some(b"after".to_vec()), "the new message is the next one out");
}

/// `bundle.toml`: a manifest that parses is self-consistent and names only files inside
/// the bundle directory.
pub fn bundle_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(m) = Manifest::parse(text) else { return };
    for (key, name) in m.files.entries() {
        let inside = Path::new(name).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        assert!(inside && !name.trim().is_empty(), "[files] {key} = {name:?} accepted");
    }
    m.check().expect("an accepted manifest stays valid");
    for t in &m.tensors {
        for d in &t.shape {
            let [min, opt, max] = m.dim_range(d).unwrap_or_else(|| panic!("tensor {} has undeclared {d}", t.name));
            assert!(1 <= min && min <= opt && opt <= max, "{d}: [{min}, {opt}, {max}]");
        }
    }
    assert!(m.input.std.iter().all(|s| s.is_finite() && *s > 0.0));
}

/// `vocabulary.json` for a 4-dimensional class embedding: accepted vocabularies have
/// unique non-empty names and unit rows, and classify any embedding to a probability.
pub fn vocabulary_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(v) = parse_vocabulary(text, 4, 10.0) else { return };
    assert!(!v.names.is_empty());
    for (i, n) in v.names.iter().enumerate() {
        assert!(!n.trim().is_empty() && !v.names[..i].contains(n), "name {n:?} accepted");
    }
    assert_eq!(v.embeddings.len(), v.names.len() * 4);
    for row in v.embeddings.chunks(4) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "row {row:?} has norm {norm}");
    }
    let (k, p) = v.classify(&[0.5, -0.25, 1.0, 0.0]).expect("a non-empty vocabulary classifies");
    assert!(k < v.len() && (0.0..=1.0).contains(&p), "class {k} probability {p}");
}
