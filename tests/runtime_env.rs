//! Environment-driven lookups: `SEGSTREAM_MODEL`, the bundled default, `ORT_DYLIB_PATH`.
//! One test function on purpose: it changes process environment variables.
mod runtime_common;

use runtime_common::{make_bundle, tiny};
use segstream::runtime::ort::library::find_library;
use segstream::segmenter::{Segmenter, SegmenterSettings};

#[test]
fn model_and_library_lookups_follow_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = make_bundle(dir.path(), &[]);

    std::env::set_var("SEGSTREAM_MODEL", &fixture);
    let seg = Segmenter::open(&SegmenterSettings::default()).unwrap();
    assert_eq!((seg.bundle_name(), seg.bundle_dir()), ("fixture", fixture.as_path()));
    // An explicit model beats the environment.
    let explicit = SegmenterSettings { model: Some(tiny()), ..Default::default() };
    assert_eq!(Segmenter::open(&explicit).unwrap().bundle_name(), "tiny");

    std::env::set_var("SEGSTREAM_MODEL", "/no/such/bundle");
    let e = Segmenter::open(&SegmenterSettings::default()).err().unwrap().to_string();
    assert_eq!(e, "model bundle not found: /no/such/bundle (from SEGSTREAM_MODEL) is not a directory");

    // Unset: the bundled default, found from the test executable's ancestors (target/..).
    std::env::remove_var("SEGSTREAM_MODEL");
    let seg = Segmenter::open(&SegmenterSettings::default()).unwrap();
    assert_eq!((seg.bundle_name(), seg.bundle_dir()), ("tiny", tiny().as_path()));

    // A wrong ORT_DYLIB_PATH is reported before ort could panic on it.
    let saved = std::env::var_os("ORT_DYLIB_PATH");
    std::env::set_var("ORT_DYLIB_PATH", "/no/libonnxruntime.so");
    let e = find_library().unwrap_err();
    assert_eq!(
        e,
        "ORT_DYLIB_PATH=/no/libonnxruntime.so does not exist; install it with `pip install onnxruntime==1.22.1` or set ORT_DYLIB_PATH to libonnxruntime.so"
    );
    match saved {
        Some(v) => std::env::set_var("ORT_DYLIB_PATH", v),
        None => std::env::remove_var("ORT_DYLIB_PATH"),
    }
}
