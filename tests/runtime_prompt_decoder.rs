//! The bundle's optional prompt-only decoder (`[files] prompt_decoder`): on a synthetic world
//! video, a segmenter that runs it on frames without detection reports what one running the
//! full decoder on every frame reports; a bundle without it, or with a wrong one, behaves.
mod runtime_common;

use runtime_common::{make_bundle, tiny};
use segstream::segmenter::{FrameRef, FrameResult, PixelFormat, Segmenter, SegmenterSettings};
use segstream::tracker::TrackerConfig;
use segstream::world::{Difficulty, World, WorldConfig};

fn segmenter(prompt_decoder: bool, detect_interval: u32) -> Segmenter {
    let tracker = TrackerConfig { detect_interval, ..Default::default() };
    Segmenter::open(&SegmenterSettings { model: Some(tiny()), tracker, prompt_decoder, ..Default::default() }).unwrap()
}

/// (track id, class id, mask bits) of every object, and the scores apart.
fn summary(r: &FrameResult) -> (Vec<(u64, usize, Vec<u8>)>, Vec<f32>) {
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
