//! `segstream trt-profile`: the flags deploy/tensorrt/build-engines.sh passes to trtexec.
use std::path::Path;
use std::process::Command;

fn trt_profile(bundle: &Path, model: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segstream")).args(["trt-profile"]).arg(bundle).arg(model).output().unwrap()
}

fn tiny() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../engines/tiny")
}

#[test]
fn decoder_profile_covers_the_manifest_ranges() {
    let text = std::fs::read_to_string(tiny().join("bundle.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let range = |s: &str| -> Vec<i64> { manifest["dynamic"][s].as_array().unwrap().iter().map(|v| v.as_integer().unwrap()).collect() };
    let (p, t) = (range("P"), range("T"));
    let c = manifest["model"]["hidden_dim"].as_integer().unwrap();
    let out = trt_profile(&tiny(), "mask_decoder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, flag) in ["--minShapes=", "--optShapes=", "--maxShapes="].iter().enumerate() {
        let want = format!("{flag}prompt_tokens:{}x{}x{c},prompt_valid:{}x{}", p[i], t[i], p[i], t[i]);
        assert_eq!(lines[i], want);
    }
}

#[test]
fn static_encoder_prints_nothing_and_bad_bundle_fails() {
    let out = trt_profile(&tiny(), "image_encoder");
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = trt_profile(Path::new("/nonexistent-bundle"), "mask_decoder");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-bundle/bundle.toml"));
}
