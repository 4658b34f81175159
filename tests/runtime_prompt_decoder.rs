//! The bundle's optional prompt-only decoder (`[files] prompt_decoder`): on a synthetic world
//! video, a segmenter that runs it on frames without detection reports what one running the
//! full decoder on every frame reports; a bundle without it, or with a wrong one, behaves.
mod runtime_common;

use runtime_common::{make_bundle, tiny};
use segstream::bundle::Bundle;
use segstream::model::{DecoderOutput, Features, PromptBatch, QueryOutputs};
use segstream::runtime::{backend_with, EngineOptions};
use segstream::segmenter::{FrameRef, FrameResult, PixelFormat, Segmenter, SegmenterSettings};
use segstream::tensor::Tensor;
use segstream::tracker::TrackerConfig;
use segstream::world::{Difficulty, World, WorldConfig};

fn segmenter(prompt_decoder: bool, detect_interval: u32) -> Segmenter {
    let tracker = TrackerConfig { detect_interval, ..Default::default() };
    Segmenter::open(&SegmenterSettings { model: Some(tiny()), tracker, prompt_decoder, ..Default::default() }).unwrap()
}

/// (track id, class id, mask bits) of an object.
type Object = (u64, usize, Vec<u8>);

/// Every object of a frame, and the scores apart.
fn summary(r: &FrameResult) -> (Vec<Object>, Vec<f32>) {
    let objects = r.objects.iter().map(|o| (o.track_id, o.class_id, o.mask.data.clone())).collect();
    (objects, r.objects.iter().map(|o| o.score).collect())
}

#[test]
fn prompt_only_decoder_gives_the_full_decoders_tracks() {
    let mut with = segmenter(true, 5);
    let mut without = segmenter(false, 5);
    assert!(with.prompt_only_decoder(), "engines/tiny declares a prompt decoder");
    assert!(!without.prompt_only_decoder());
    let (w, h) = with.input_size();
    // A held-out seed (never trained on) with several objects from the first frames.
    let mut world = World::new(WorldConfig::new(1_000_003, Difficulty::Normal, w, h)).unwrap();
    let mut rgb = vec![0u8; w * h * 3];
    let (mut prompt_only_frames, mut objects) = (0, 0);
    for f in 0..40u64 {
        world.render(f, &mut rgb).unwrap();
        let frame = FrameRef { format: PixelFormat::Rgb, width: w, height: h, planes: [&rgb, &[], &[]], strides: [w * 3, 0, 0] };
        let a = summary(with.process(&frame, f).unwrap());
        let b = summary(without.process(&frame, f).unwrap());
        let detected = with.tracker_mut().detected_last_frame();
        assert_eq!(detected, without.tracker_mut().detected_last_frame(), "frame {f}");
        assert!(a.0 == b.0, "frame {f}: ids, classes or masks differ");
        for (sa, sb) in a.1.iter().zip(&b.1) {
            assert!((sa - sb).abs() <= 1e-4, "frame {f}: score {sa} vs {sb}");
        }
        if !detected && !a.0.is_empty() {
            prompt_only_frames += 1;
        }
        objects += a.0.len();
    }
    // Interval 5 with targets: 4 frames in 5 decode prompts only. The comparison must have
    // covered such frames with objects on them.
    assert!(prompt_only_frames >= 20 && objects >= 40, "{prompt_only_frames} prompt-only frames with objects, {objects} objects");
}

#[test]
fn bundles_without_a_prompt_decoder_use_the_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    let seg = Segmenter::open(&SegmenterSettings { model: Some(d), ..Default::default() }).unwrap();
    assert!(!seg.prompt_only_decoder());
}

/// A prompt decoder that still has the learnable queries is refused at load, naming the file.
#[test]
fn a_prompt_decoder_with_detection_outputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny()).unwrap() {
        let path = entry.unwrap().path();
        std::os::unix::fs::symlink(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let toml = std::fs::read_to_string(tiny().join("bundle.toml")).unwrap();
    let wrong = toml.replacen("prompt_decoder = \"prompt_decoder.onnx\"", "prompt_decoder = \"mask_decoder.onnx\"", 1);
    assert_ne!(toml, wrong);
    std::fs::remove_file(dir.path().join("bundle.toml")).unwrap();
    std::fs::write(dir.path().join("bundle.toml"), wrong).unwrap();
    let e = Segmenter::open(&SegmenterSettings { model: Some(dir.path().into()), ..Default::default() }).err().expect("refused");
    let e = e.to_string();
    assert!(e.contains("mask_decoder.onnx: model output `det_masks` [24, 80, 80] is not declared in the manifest"), "{e}");
    // Turned off, it is not run, but still checked.
    let off = SegmenterSettings { model: Some(dir.path().into()), prompt_decoder: false, ..Default::default() };
    let e = Segmenter::open(&off).err().expect("refused").to_string();
    assert!(e.contains("is not declared in the manifest"), "{e}");
}

/// A [1, 3, H, W] image with structure in every channel (a ramp modulo a prime).
fn ramp_image(w: usize, h: usize) -> Tensor {
    let mut t = Tensor::zeros(&[1, 3, h, w]);
    for (i, v) in t.data.iter_mut().enumerate() {
        *v = ((i % 97) as f32 / 97.0) - 0.5;
    }
    t
}

/// `p` prompts of `t` token slots, row r having 1 + (r mod t) real tokens (so rows differ
/// in length, the last may be full), values spread over [-1, 1].
fn prompts(p: usize, t: usize, c: usize, seed: usize) -> PromptBatch {
    let mut b = PromptBatch { tokens: Tensor::zeros(&[p, t, c]), valid: Tensor::zeros(&[p, t]) };
    for (i, v) in b.tokens.data.iter_mut().enumerate() {
        *v = (((i + seed) * 7919) % 211) as f32 / 105.0 - 1.0;
    }
    for row in 0..p {
        for k in 0..=((row * 5 + seed) % t) {
            b.valid.data[row * t + k] = 1.0;
        }
    }
    b
}

/// Largest |a - b| over a tensor, relative to max(1, largest |a|); shapes must agree.
fn worst(name: &str, a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape, b.shape, "{name}");
    let scale = a.data.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.data.iter().zip(&b.data).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn prompt_rows_differ(full: &QueryOutputs, part: &QueryOutputs) -> f32 {
    [
        worst("mask_logits", &full.mask_logits, &part.mask_logits),
        worst("class_emb", &full.class_emb, &part.class_emb),
        worst("assoc_emb", &full.assoc_emb, &part.assoc_emb),
        worst("quality", &full.quality, &part.quality),
    ]
    .into_iter()
    .fold(0f32, f32::max)
}

/// Real ONNX Runtime, real bundle: on the same features, the prompt-only decoder's rows
/// equal the full decoder's prompt rows (1e-5 of each output's scale) for one prompt,
/// several, and the manifest's maximum; the full decoder without detection gives them too.
#[test]
fn prompt_only_decoder_rows_equal_the_full_decoders_for_every_batch_size() {
    let bundle = Bundle::load(&tiny()).unwrap();
    let m = &bundle.manifest;
    let (w, h, c, t) = (m.input.width, m.input.height, m.model.token_dim(), m.model.max_prompt_tokens);
    let open = |prompt_decoder| backend_with(EngineOptions { prompt_decoder, ..Default::default() }).open(&bundle).unwrap();
    let (mut with, mut without) = (open(true), open(false));
    assert!(with.decoder.prompt_only() && !without.decoder.prompt_only());
    let mut f = Features::default();
    with.encoder.encode(&ramp_image(w, h), &mut f).unwrap();
    let (mut part, mut full, mut full_detect) = (DecoderOutput::default(), DecoderOutput::default(), DecoderOutput::default());
    for (p, seed) in [(1, 0), (1, 3), (5, 1), (m.model.max_prompts, 2)] {
        let batch = prompts(p, t, c, seed);
        with.decoder.decode_into(&f, &batch, false, &mut part).unwrap();
        without.decoder.decode_into(&f, &batch, false, &mut full).unwrap();
        without.decoder.decode_into(&f, &batch, true, &mut full_detect).unwrap();
        assert_eq!(part.prompts.mask_logits.shape, vec![p, h / 4, w / 4], "P = {p}");
        assert_eq!(part.detections.mask_logits.shape.first().copied().unwrap_or(0), 0, "no detection rows without detection");
        let d = prompt_rows_differ(&full_detect.prompts, &part.prompts);
        assert!(d <= 1e-5, "P = {p}, seed {seed}: prompt-only rows differ by {d:e} of their scale");
        let d = prompt_rows_differ(&full_detect.prompts, &full.prompts);
        assert!(d <= 1e-5, "P = {p}, seed {seed}: the full decoder without detection differs by {d:e}");
        // Detection through the same engines still returns the learnable rows.
        with.decoder.decode_into(&f, &batch, true, &mut part).unwrap();
        assert_eq!(part.detections.mask_logits.shape[0], m.model.num_queries, "P = {p}");
    }
}

/// A manifest naming a prompt decoder file that is not there fails to load, naming it.
#[test]
fn a_missing_prompt_decoder_file_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "bundle.toml" && path.file_name().unwrap() != "prompt_decoder.onnx" {
            std::os::unix::fs::symlink(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(tiny().join("bundle.toml"), dir.path().join("bundle.toml")).unwrap();
    let e = Bundle::load(dir.path()).expect_err("refused").to_string();
    assert_eq!(e, format!("{}: [files] prompt_decoder does not exist", dir.path().join("prompt_decoder.onnx").display()));
    // A file that is not ONNX: an error at open, naming the file.
    std::fs::write(dir.path().join("prompt_decoder.onnx"), b"not a protobuf").unwrap();
    let e = Segmenter::open(&SegmenterSettings { model: Some(dir.path().into()), ..Default::default() }).err().expect("refused");
    let e = e.to_string();
    assert!(e.contains(&format!("{}: loading the model:", dir.path().join("prompt_decoder.onnx").display())), "{e}");
}
