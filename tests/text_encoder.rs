//! Open vocabulary at run time on the real tiny bundle: the Rust text encoder (tokenizers +
//! ONNX Runtime) against the Python-computed `vocabulary.json`, new class names in the
//! segmenter, text targets on world frames, and bundles without a text encoder.
use segstream::bundle::Bundle;
use segstream::runtime::ort::TextEncoder;
use segstream::segmenter::{FrameRef, PixelFormat, Segmenter, SegmenterSettings};
use segstream::tracker::TrackerConfig;
use segstream::world::{Difficulty, World, WorldConfig};
use std::path::{Path, PathBuf};

#[path = "support/text_bundle.rs"]
mod text_bundle;
#[path = "support/world_frames.rs"]
mod world_frames;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/tiny")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

/// The tiny bundle without its text encoder.
fn bundle_without_text(dir: &Path) -> PathBuf {
    text_bundle::bundle_without_text(&tiny(), dir)
}

#[test]
fn rust_embeddings_of_the_class_names_match_the_python_vocabulary() {
    let bundle = Bundle::load(&tiny()).unwrap();
    let t0 = std::time::Instant::now();
    let mut enc = TextEncoder::open(&bundle).unwrap();
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let v = &bundle.vocabulary;
    let names: Vec<&str> = v.names.iter().map(String::as_str).collect();
    let t0 = std::time::Instant::now();
    let emb = enc.embed(&names).unwrap();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(emb.len(), 8);
    let cos: Vec<f32> = (0..8).map(|k| cosine(&emb[k], &v.embeddings[k * v.dim..(k + 1) * v.dim])).collect();
    let min = cos.iter().cloned().fold(f32::INFINITY, f32::min);
    println!("cosine Rust vs vocabulary.json per class: {cos:?}; minimum {min:.7}; batch of 8 in {ms:.1} ms");
    assert!(min >= 0.999, "{cos:?}");
    // One at a time (no padding) gives the same embedding as in a padded batch.
    let t1 = std::time::Instant::now();
    let single = enc.embed(&["crescent"]).unwrap();
    println!(
        "open {open_ms:.0} ms; one name after warm-up {:.1} ms (timing is informative, not asserted)",
        t1.elapsed().as_secs_f64() * 1e3
    );
    assert!(cosine(&single[0], &emb[7]) > 0.9999);
    for e in &emb {
        assert!((e.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-4, "not normalised");
    }
}

#[test]
fn a_phrase_lands_near_its_class() {
    let bundle = Bundle::load(&tiny()).unwrap();
    let mut enc = TextEncoder::open(&bundle).unwrap();
    let e = enc.embed(&["a red disc", "disc", "square", "a small green star", "star", "ring"]).unwrap();
    let (to_disc, to_square) = (cosine(&e[0], &e[1]), cosine(&e[0], &e[2]));
    println!("'a red disc': disc {to_disc:.3}, square {to_square:.3}");
    assert!(to_disc > to_square);
    assert!(cosine(&e[3], &e[4]) > cosine(&e[3], &e[5]));
    // Longer than the manifest's L = 64 tokens: truncated, not an error.
    let long = "disc ".repeat(200);
    assert_eq!(enc.embed(&[long.as_str()]).unwrap()[0].len(), 384);
}

#[test]
fn segmenter_embeds_new_class_names() {
    let names = vec!["disc".to_string(), "red square".to_string()];
    let settings = SegmenterSettings { model: Some(tiny()), vocabulary: names.clone(), ..Default::default() };
    let mut seg = Segmenter::open(&settings).unwrap();
    let v = seg.vocabulary().clone();
    assert_eq!(v.names, names);
    let bundle = seg.bundle_vocabulary().clone();
    // "disc" keeps its precomputed row; "red square" is new, nearer "square" than "disc".
    assert_eq!(&v.embeddings[..v.dim], &bundle.embeddings[..v.dim]);
    let red_square = &v.embeddings[v.dim..];
    let row = |k: usize| &bundle.embeddings[k * v.dim..(k + 1) * v.dim];
    assert!(cosine(red_square, row(1)) > cosine(red_square, row(0)));
    let direct = seg.embed_text(&["red square"]).unwrap();
    assert!(cosine(&direct[0], red_square) > 0.9999);
    // At run time too; errors change nothing.
    seg.set_vocabulary(&["hexagon".into(), "blue ring".into()]).unwrap();
    assert_eq!(seg.vocabulary().names, ["hexagon", "blue ring"]);
    let e = seg.set_vocabulary(&["a".into(), "a".into()]).unwrap_err().to_string();
    assert_eq!(e, "vocabulary: class `a` is given twice");
    assert_eq!(seg.vocabulary().names, ["hexagon", "blue ring"]);
    seg.set_vocabulary(&[]).unwrap();
    assert_eq!(seg.vocabulary().names.len(), 8, "empty: the bundle's vocabulary");
}

#[test]
fn without_a_text_encoder_new_names_and_text_targets_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundle_without_text(tmp.path());
    let bad = SegmenterSettings { model: Some(dir.clone()), vocabulary: vec!["disc".into(), "unicorn".into()], ..Default::default() };
    let e = Segmenter::open(&bad).err().expect("unknown name without text encoder").to_string();
    assert!(
        e.starts_with("class `unicorn` is not in the vocabulary of bundle `tiny` (disc, square")
            && e.ends_with("and the bundle has no text encoder to embed new names"),
        "{e}"
    );
    let ok = SegmenterSettings { model: Some(dir.clone()), vocabulary: vec!["star".into(), "disc".into()], ..Default::default() };
    let mut seg = Segmenter::open(&ok).unwrap();
    assert!(!seg.has_text_encoder());
    assert_eq!(seg.vocabulary().names, ["star", "disc"]);
    let e = seg.add_text_target("a red disc").unwrap_err().to_string();
    assert_eq!(e, "bundle `tiny` has no text encoder ([files] text_encoder), so new class names and text targets cannot be embedded");
    assert!(seg
        .set_vocabulary(&["ring".into(), "blue ring".into()])
        .unwrap_err()
        .to_string()
        .contains("`blue ring` is not in the vocabulary"));
    assert_eq!(seg.vocabulary().names, ["star", "disc"], "a failed change keeps the vocabulary");
    let e = TextEncoder::open(&Bundle::load(&dir).unwrap()).err().unwrap().to_string();
    assert!(e.contains("has no text encoder"), "{e}");
}

fn frame(rgb: &[u8]) -> FrameRef<'_> {
    FrameRef { format: PixelFormat::Rgb, width: 128, height: 128, planes: [rgb, &[], &[]], strides: [128 * 3, 0, 0] }
}

/// A bundle whose detector finds objects: `SEGSTREAM_TEST_MODEL`, else the default bundle.
fn detecting_model() -> PathBuf {
    std::env::var_os("SEGSTREAM_TEST_MODEL").map(PathBuf::from).unwrap_or_else(tiny)
}

/// A text target names a class present on the first frame; it starts on the next
/// detection frame on an object of that class (checked against the ground truth) and keeps
/// its id while tracked. Needs a trained detector (the default bundle is trained).
#[test]
fn text_target_starts_on_a_detection_of_the_named_class() {
    let frames = world_frames::frames(&mut World::new(WorldConfig::new(9001, Difficulty::Normal, 128, 128)).unwrap(), 8);
    let label = frames[0].1.objects.iter().max_by_key(|o| o.visible_area).unwrap().label;
    let tracker = TrackerConfig { detect_interval: 2, ..Default::default() };
    let mut seg = Segmenter::open(&SegmenterSettings { model: Some(detecting_model()), tracker, ..Default::default() }).unwrap();
    seg.process(&frame(&frames[0].0), 0).unwrap();
    let id = seg.add_text_target(&format!("a {label}")).unwrap();
    assert_eq!(seg.tracker_mut().pending_text_targets(), [id]);
    let mut seen = Vec::new();
    for (t, (rgb, truth)) in frames.iter().enumerate().skip(1) {
        let r = seg.process(&frame(rgb), t as u64).unwrap();
        let Some(o) = r.objects.iter().find(|o| o.track_id == id) else { continue };
        let best = (0..truth.objects.len()).max_by(|&a, &b| truth.mask(a).iou(&o.mask).total_cmp(&truth.mask(b).iou(&o.mask))).unwrap();
        let iou = truth.mask(best).iou(&o.mask);
        println!("frame {t}: text target {id} on a {} (IoU {iou:.2}), labelled {}", truth.objects[best].label, o.label);
        seen.push((t, truth.objects[best].label, iou));
    }
    assert!(seg.tracker_mut().pending_text_targets().is_empty(), "never matched");
    assert_eq!(seen.first().map(|s| s.0), Some(2), "starts on the next detection frame (2)");
    assert!(seen.len() >= 5, "tracked on {} frames", seen.len());
    assert!(seen.iter().all(|&(_, l, iou)| l == label && iou > 0.5), "{seen:?}");
}
