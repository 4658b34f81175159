//! The Rust runtime against the Python onnxruntime on the same inputs: every encoder and
//! decoder output must agree. Catches plumbing errors (wrong output bound to a feature,
//! batch axis, prompt layout) that shape checks cannot see.
mod runtime_common;

use std::path::Path;

use runtime_common::{make_bundle, picture, repo, tiny};
use segstream::bundle::Bundle;
use segstream::kernels::Preprocessor;
use segstream::model::{Features, PromptBatch};
use segstream::runtime::{backend_for, Provider};
use segstream::segmenter::PixelFormat;
use segstream::tensor::Tensor;

fn write_f32(path: &Path, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn assert_close(name: &str, ours: &Tensor, reference: &[f32]) {
    assert_eq!(ours.data.len(), reference.len(), "{name}: length");
    let scale = reference.iter().map(|v| v.abs()).fold(1e-3, f32::max);
    let worst = ours.data.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-4 * scale, "{name}: max |difference| {worst} (scale {scale})");
}

#[test]
fn tiny_bundle_outputs_match_python_onnxruntime() {
    outputs_match_python_onnxruntime(&tiny());
}

/// The optional `class_feat` tensor goes from the encoder to the decoder: the fixture's
/// class embeddings read its mean, so a missing or misplaced copy changes them.
#[test]
fn class_feat_bundle_outputs_match_python_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_bundle(dir.path(), &["--class-feat"]);
    assert!(Bundle::load(&path).unwrap().manifest.has_class_feat());
    let f = outputs_match_python_onnxruntime(&path);
    assert_eq!(f.class_feat.shape, f.mask_feat.shape);
    assert!(f.class_feat.data.iter().any(|&v| v != 0.0));
}

/// Runs `dir` in Rust and in Python on the same image and prompts, asserts every output
/// agrees, and returns the Rust features.
fn outputs_match_python_onnxruntime(dir: &Path) -> Features {
    let bundle = Bundle::load(dir).unwrap();
    let (i, m) = (&bundle.manifest.input, &bundle.manifest.model);
    let mut pre = Preprocessor::new(i.width, i.height, i.mean, i.std);
    let mut image = Tensor::default();
    pre.run(&picture(PixelFormat::Nv12, 200, 150, 0).frame(), &mut image).unwrap();

    // Two prompt rows with different valid counts, tokens taken from the real s8 features.
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let mut f = Features::default();
    engines.encoder.encode(&image, &mut f).unwrap();
    let (p, t, c) = (2, 40, m.hidden_dim);
    let mut prompts = PromptBatch { tokens: Tensor::zeros(&[p, t, c]), valid: Tensor::zeros(&[p, t]) };
    let cells = f.s8.shape[1] * f.s8.shape[2];
    for row in 0..p {
        for k in 0..t {
            for ch in 0..c {
                prompts.tokens.data[(row * t + k) * c + ch] = f.s8.data[ch * cells + (row * 37 + k * 5) % cells];
            }
            prompts.valid.data[row * t + k] = if k < 10 + 20 * row { 1.0 } else { 0.0 };
        }
    }
    let out = engines.decoder.decode(&f, &prompts, true).unwrap();

    let work = tempfile::tempdir().unwrap();
    write_f32(&work.path().join("image.f32"), &image.data);
    write_f32(&work.path().join("tokens.f32"), &prompts.tokens.data);
    write_f32(&work.path().join("valid.f32"), &prompts.valid.data);
    let dims = format!(r#"{{"image": {:?}, "tokens": [{p}, {t}, {c}], "valid": [{p}, {t}]}}"#, image.shape);
    std::fs::write(work.path().join("dims.json"), dims).unwrap();
    let status = std::process::Command::new("python3")
        .arg(repo().join("tests/fixtures/ort_reference.py"))
        .arg(dir)
        .arg(work.path())
        .status()
        .expect("python3 with onnxruntime");
    assert!(status.success(), "ort_reference.py failed");

    let r = |n: &str| read_f32(&work.path().join(format!("{n}.f32")));
    let names = bundle.manifest.features();
    let ours: Vec<&Tensor> = f.inputs(names.len()).collect();
    assert_eq!(names.len(), ours.len());
    for ((name, _), ours) in names.iter().zip(ours) {
        assert_close(name, ours, &r(name));
    }
    for (prefix, q) in [("det", &out.detections), ("prompt", &out.prompts)] {
        assert_close(&format!("{prefix}_masks"), &q.mask_logits, &r(&format!("{prefix}_masks")));
        assert_close(&format!("{prefix}_class_emb"), &q.class_emb, &r(&format!("{prefix}_class_emb")));
        assert_close(&format!("{prefix}_assoc_emb"), &q.assoc_emb, &r(&format!("{prefix}_assoc_emb")));
        assert_close(&format!("{prefix}_quality"), &q.quality, &r(&format!("{prefix}_quality")));
    }
    f
}
