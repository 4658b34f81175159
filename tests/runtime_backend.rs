//! The ONNX Runtime backend on real ONNX files: shapes, prompt handling, and every
//! load-time error (manifest vs model mismatch, malformed manifest, missing provider).
mod runtime_common;

use runtime_common::{make_bundle, tiny};
use segstream::bundle::Bundle;
use segstream::model::{DeviceTag, Features, PromptBatch};
use segstream::runtime::{backend_for, Provider};
use segstream::tensor::Tensor;

fn open_err(dir: &std::path::Path, provider: Provider) -> String {
    let bundle = Bundle::load(dir).unwrap_or_else(|e| panic!("bundle must load: {e}"));
    match backend_for(provider).open(&bundle) {
        Ok(_) => panic!("opening {} with {provider} must fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn ramp_image(w: usize, h: usize) -> Tensor {
    let mut t = Tensor::zeros(&[1, 3, h, w]);
    for (i, v) in t.data.iter_mut().enumerate() {
        *v = ((i % 97) as f32 / 97.0) - 0.5;
    }
    t
}

fn prompts(p: usize, t: usize, c: usize, valid_tokens: usize) -> PromptBatch {
    let mut b = PromptBatch { tokens: Tensor::zeros(&[p, t, c]), valid: Tensor::zeros(&[p, t]) };
    for (i, v) in b.tokens.data.iter_mut().enumerate() {
        *v = ((i * 7919) % 101) as f32 / 101.0;
    }
    for row in 0..p {
        for k in 0..valid_tokens.min(t) {
            b.valid.data[row * t + k] = 1.0;
        }
    }
    b
}

fn all_finite(t: &Tensor) -> bool {
    t.data.iter().all(|v| v.is_finite())
}

#[test]
fn fixture_bundle_runs_encoder_and_decoder_with_contract_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Bundle::load(&make_bundle(dir.path(), &[])).unwrap();
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let mut f = Features::default();
    engines.encoder.encode(&ramp_image(64, 64), &mut f).unwrap();
    assert_eq!(f.mask_feat.shape, vec![16, 16, 16]);
    assert_eq!((f.s8.shape.clone(), f.s16.shape.clone(), f.s32.shape.clone()), (vec![16, 8, 8], vec![16, 4, 4], vec![16, 2, 2]));
    assert!(all_finite(&f.mask_feat) && f.mask_feat.data.iter().any(|&v| v != 0.0));

    // No targets: the decoder still runs (one empty prompt row) and returns zero prompt rows.
    let out = engines.decoder.decode(&f, &PromptBatch::default(), true).unwrap();
    assert_eq!(out.detections.mask_logits.shape, vec![8, 16, 16]);
    assert_eq!(out.detections.class_emb.shape, vec![8, 32]);
    assert_eq!(out.detections.assoc_emb.shape, vec![8, 16]);
    assert_eq!(out.detections.quality.shape, vec![8]);
    assert!(out.detections.quality.data.iter().all(|q| (0.0..=1.0).contains(q)));
    assert_eq!(out.prompts.len(), 0);
    assert_eq!(out.prompts.mask_logits.shape, vec![0, 16, 16]);

    // Three prompts of 5 tokens (3 valid), no detection: prompt rows only.
    let out = engines.decoder.decode(&f, &prompts(3, 5, 16, 3), false).unwrap();
    assert!(out.detections.is_empty());
    assert_eq!(out.prompts.mask_logits.shape, vec![3, 16, 16]);
    assert_eq!(out.prompts.class_emb.shape, vec![3, 32]);
    assert!(all_finite(&out.prompts.mask_logits) && all_finite(&out.prompts.assoc_emb));

    // An empty prompt row (no valid token) stays finite.
    let out = engines.decoder.decode(&f, &prompts(2, 4, 16, 0), false).unwrap();
    assert!(all_finite(&out.prompts.mask_logits) && all_finite(&out.prompts.quality));
}

#[test]
fn decoder_rejects_prompt_batches_outside_the_manifest_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Bundle::load(&make_bundle(dir.path(), &[])).unwrap();
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let mut f = Features::default();
    engines.encoder.encode(&ramp_image(64, 64), &mut f).unwrap();
    let e = engines.decoder.decode(&f, &prompts(33, 4, 16, 1), true).unwrap_err().to_string();
    assert_eq!(e, "bad input: prompt batch [P=33, T=4] is outside P in [1, 32], T in [1, 192]");
    let e = engines.decoder.decode(&f, &prompts(2, 4, 15, 1), true).unwrap_err().to_string();
    assert!(e.contains("do not match [P, T, 16]"), "{e}");
    let e = engines.encoder.encode(&ramp_image(32, 32), &mut f).unwrap_err().to_string();
    assert_eq!(e, "bad input: image encoder expects [1, 3, 64, 64], got [1, 3, 32, 32]");
}

/// Features a GPU encoder left in device memory carry a tag and no host data but s8; a
/// decoder that cannot read device memory refuses them, naming why, instead of reading
/// empty tensors. On the CPU provider the encoder keeps everything on the host.
#[test]
fn cpu_engines_keep_features_on_the_host_and_refuse_device_features() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Bundle::load(&make_bundle(dir.path(), &[])).unwrap();
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    assert!(!engines.encoder.takes_device_input(), "the CPU encoder has no device input");
    let mut f = Features::default();
    engines.encoder.encode(&ramp_image(64, 64), &mut f).unwrap();
    assert_eq!(f.device, None);
    assert_eq!(f.mask_feat.data.len(), 16 * 16 * 16, "every map has its data on the host");
    f.device = Some(DeviceTag { store: DeviceTag::new_store(), generation: 1 });
    let e = engines.decoder.decode(&f, &prompts(1, 2, 16, 1), true).unwrap_err().to_string();
    assert_eq!(e, "bad input: features live in device memory, but this decoder runs on the CPU");
}

#[test]
fn onnx_output_shape_differing_from_manifest_names_file_tensor_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &["--onnx-queries", "10"]);
    let e = open_err(&d, Provider::Cpu);
    assert_eq!(e, "mask_decoder.onnx: output `det_masks` has shape [10, 16, 16], manifest says [8, 16, 16]");
}

#[test]
fn onnx_output_name_differing_from_manifest_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &["--rename-output", "det_quality=det_iou"]);
    let e = open_err(&d, Provider::Cpu);
    assert!(e.starts_with("mask_decoder.onnx: manifest declares output `det_quality` but the model's outputs are ["), "{e}");
    assert!(e.contains("\"det_iou\""), "{e}");
}

#[test]
fn manifest_edited_away_from_the_onnx_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    let toml = std::fs::read_to_string(d.join("bundle.toml")).unwrap();
    // The manifest claims a 96 px encoder (all sizes consistent), the ONNX file is 64 px.
    let edited = toml.replace("width = 64", "width = 96").replace("[1, 3, 64, 64]", "[1, 3, 64, 96]");
    let edited = edited.replace(", 16, 16]", ", 16, 24]").replace(", 8, 8]", ", 8, 12]");
    let edited = edited.replace(", 4, 4]", ", 4, 6]").replace(", 2, 2]", ", 2, 3]");
    std::fs::write(d.join("bundle.toml"), edited).unwrap();
    let e = open_err(&d, Provider::Cpu);
    assert_eq!(e, "image_encoder.onnx: input `image` has shape [1, 3, 64, 64], manifest says [1, 3, 64, 96]");
}

#[test]
fn malformed_manifest_and_missing_files_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    let good = std::fs::read_to_string(d.join("bundle.toml")).unwrap();
    std::fs::write(d.join("bundle.toml"), good.replace("[model]", "[model")).unwrap();
    let e = Bundle::load(&d).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: TOML parse error", d.join("bundle.toml").display())), "{e}");
    std::fs::write(d.join("bundle.toml"), &good).unwrap();
    std::fs::remove_file(d.join("mask_decoder.onnx")).unwrap();
    let e = Bundle::load(&d).unwrap_err().to_string();
    assert_eq!(e, format!("{}: [files] mask_decoder does not exist", d.join("mask_decoder.onnx").display()));
}

#[test]
fn corrupt_onnx_file_is_a_load_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    std::fs::write(d.join("image_encoder.onnx"), b"not a protobuf").unwrap();
    let e = open_err(&d, Provider::Cpu);
    assert!(e.starts_with(&format!("{}: loading the model:", d.join("image_encoder.onnx").display())), "{e}");
}

#[test]
fn unavailable_providers_are_errors_not_cpu_fallbacks() {
    // The pip onnxruntime wheel is CPU-only: CUDA and TensorRT must be refused.
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    for p in [Provider::Cuda, Provider::TensorRt] {
        let e = open_err(&d, p);
        assert!(e.starts_with(&format!("execution provider `{p}` is not available")), "{e}");
    }
}

#[test]
fn default_tiny_bundle_validates_and_decodes() {
    let bundle = Bundle::load(&tiny()).unwrap();
    assert_eq!(bundle.name(), "tiny");
    let m = &bundle.manifest.model;
    let (c, n, d) = (m.hidden_dim, m.num_queries, m.class_dim);
    assert_eq!(bundle.vocabulary.dim, d);
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let (w, h) = (bundle.manifest.input.width, bundle.manifest.input.height);
    let mut f = Features::default();
    engines.encoder.encode(&ramp_image(w, h), &mut f).unwrap();
    assert_eq!(f.mask_feat.shape, vec![c, h / 4, w / 4]);
    assert_eq!(f.s32.shape, vec![c, h / 32, w / 32]);
    let out = engines.decoder.decode(&f, &prompts(4, 64, c, 32), true).unwrap();
    assert_eq!(out.detections.mask_logits.shape, vec![n, h / 4, w / 4]);
    assert_eq!(out.detections.class_emb.shape, vec![n, d]);
    assert_eq!(out.prompts.mask_logits.shape, vec![4, h / 4, w / 4]);
    for t in [&out.detections.mask_logits, &out.detections.class_emb, &out.prompts.mask_logits, &out.prompts.quality] {
        assert!(all_finite(t));
    }
}

#[test]
fn text_encoder_is_validated_at_load_too() {
    // A copy of the default bundle (ONNX files symlinked) whose manifest misstates text_emb.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny()).unwrap() {
        let p = entry.unwrap().path();
        std::os::unix::fs::symlink(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let toml = std::fs::read_to_string(tiny().join("bundle.toml")).unwrap();
    assert!(toml.contains("shape = [\"B\", 384]"), "tiny manifest declares text_emb as [B, 384]");
    std::fs::remove_file(dir.path().join("bundle.toml")).unwrap();
    std::fs::write(dir.path().join("bundle.toml"), toml.replace("shape = [\"B\", 384]", "shape = [\"B\", 383]")).unwrap();
    let e = open_err(dir.path(), Provider::Cpu);
    assert_eq!(e, "text_encoder.onnx: output `text_emb` has shape [B, 384], manifest says [B, 383]");
}
