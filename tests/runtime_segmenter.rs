//! `Segmenter` end to end on real bundles: frames of every format in, objects out.
mod runtime_common;

use runtime_common::{make_bundle, picture, tiny};
use segstream::segmenter::{FrameResult, PixelFormat, Segmenter, SegmenterSettings};

const FORMATS: [PixelFormat; 5] = [PixelFormat::Rgb, PixelFormat::Rgba, PixelFormat::Bgrx, PixelFormat::I420, PixelFormat::Nv12];

fn settings(model: &std::path::Path) -> SegmenterSettings {
    SegmenterSettings { model: Some(model.to_path_buf()), ..Default::default() }
}

fn check_result(r: &FrameResult, frame: u64, (w, h): (usize, usize), (mw, mh): (usize, usize), classes: &[String]) {
    assert_eq!((r.frame, r.width, r.height), (frame, w, h));
    for o in &r.objects {
        assert_eq!((o.mask.width, o.mask.height, o.mask.data.len()), (mw, mh, mw * mh));
        assert!(o.mask.area() > 0, "objects with empty masks are not reported");
        assert_eq!(o.mask.bbox(), Some(o.bbox), "box is the mask's tight box");
        assert!(o.score.is_finite() && (0.0..=1.0).contains(&o.score), "score {}", o.score);
        assert_eq!(classes.get(o.class_id), Some(&o.label));
    }
}

#[test]
fn tiny_bundle_processes_every_format_at_odd_sizes() {
    let mut seg = Segmenter::open(&settings(&tiny())).unwrap();
    assert_eq!(seg.bundle_name(), "tiny");
    let manifest = segstream::bundle::Bundle::load(&tiny()).unwrap().manifest;
    assert_eq!(seg.input_size(), (manifest.input.width, manifest.input.height));
    let classes = seg.vocabulary().names.clone();
    assert!(classes.iter().any(|c| c == "disc"), "{classes:?}");
    let mut frame_no = 0;
    for (w, h) in [(320, 240), (97, 61)] {
        for f in FORMATS {
            let pic = picture(f, w, h, frame_no as usize);
            let r = seg.process(&pic.frame(), frame_no).unwrap();
            assert_eq!(r.model, "tiny");
            check_result(r, frame_no, (w, h), (w, h), &classes);
            frame_no += 1;
        }
    }
}

#[test]
fn mask_size_setting_sets_every_mask_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    // The fixture's random weights give confident detections (checked below), so masks exist.
    let tracker = segstream::tracker::TrackerConfig { score_threshold: 0.0, ..Default::default() };
    let mut seg = Segmenter::open(&SegmenterSettings { mask_size: Some((40, 30)), tracker, ..settings(&d) }).unwrap();
    let classes = seg.vocabulary().names.clone();
    let mut seen = 0;
    for i in 0..4u64 {
        let pic = picture(PixelFormat::I420, 160, 120, 3 * i as usize);
        let r = seg.process(&pic.frame(), i).unwrap();
        check_result(r, i, (160, 120), (40, 30), &classes);
        seen += r.objects.len();
    }
    // Deterministic (seeded weights and sampler): the check above must have seen masks.
    assert!(seen > 0, "the fixture model produced no object, so mask sizes went unchecked");
}

#[test]
fn vocabulary_setting_selects_bundle_classes_or_fails_clearly() {
    let names = vec!["star".to_string(), "disc".to_string()];
    let seg = Segmenter::open(&SegmenterSettings { vocabulary: names.clone(), ..settings(&tiny()) }).unwrap();
    assert_eq!(seg.vocabulary().names, names);
    assert_eq!(seg.vocabulary().embeddings.len(), 2 * seg.vocabulary().dim);

    // A bundle without a text encoder cannot embed new names: refused, naming class and bundle.
    let dir = tempfile::tempdir().unwrap();
    let fixture = make_bundle(dir.path(), &[]);
    let bad = SegmenterSettings { vocabulary: vec!["unicorn".into()], ..settings(&fixture) };
    let e = Segmenter::open(&bad).err().expect("unknown class must fail").to_string();
    assert!(e.contains("`unicorn`") && e.contains("`fixture`"), "{e}");
}

#[test]
fn open_errors_name_the_cause() {
    let e = Segmenter::open(&settings(std::path::Path::new("/no/such/model"))).err().unwrap().to_string();
    assert_eq!(e, "model bundle not found: /no/such/model (from model) is not a directory");
    let bad = SegmenterSettings { provider: "gpu".into(), ..settings(&tiny()) };
    let e = Segmenter::open(&bad).err().unwrap().to_string();
    assert_eq!(e, "unknown provider `gpu` (expected cpu, cuda, tensorrt or tensorrt-native)");
    let mut too_many = settings(&tiny());
    too_many.tracker.max_targets = 33;
    let e = Segmenter::open(&too_many).err().unwrap().to_string();
    assert_eq!(e, "tracker: max_targets = 33 exceeds bundle `tiny` max_prompts = 32");
    let mut tokens = settings(&tiny());
    tokens.tracker.memory_frames = 6;
    let e = Segmenter::open(&tokens).err().unwrap().to_string();
    assert_eq!(e, "tracker: (memory_frames + 1) * tokens_per_frame = 224 exceeds bundle `tiny` max_prompt_tokens = 192");
    let cuda = SegmenterSettings { provider: "cuda".into(), ..settings(&tiny()) };
    let e = Segmenter::open(&cuda).err().unwrap().to_string();
    assert!(e.starts_with("execution provider `cuda` is not available"), "{e}");
}

#[test]
fn bad_frames_are_run_errors_and_the_segmenter_keeps_working() {
    let mut seg = Segmenter::open(&settings(&tiny())).unwrap();
    let mut pic = picture(PixelFormat::Nv12, 64, 48, 0);
    pic.planes[1].truncate(10);
    let e = seg.process(&pic.frame(), 0).err().unwrap().to_string();
    assert!(e.starts_with("bad frame: Nv12 64x48 plane 1: 10 bytes"), "{e}");
    let ok = picture(PixelFormat::Rgb, 64, 48, 0);
    assert_eq!(seg.process(&ok.frame(), 1).unwrap().frame, 1);
}

#[test]
fn thread_settings_give_the_same_objects_and_bad_counts_fail_at_open() {
    use segstream::runtime::{Threads, MAX_INTRA_THREADS};
    let pic = picture(PixelFormat::Rgb, 160, 120, 3);
    let mut outputs = Vec::new();
    for threads in [
        Threads::default(),
        Threads { intra: 2, spin: true, encoder: None },
        Threads::intra(0),
        Threads { encoder: Some(2), ..Default::default() },
    ] {
        let mut seg = Segmenter::open(&SegmenterSettings { threads, ..settings(&tiny()) }).unwrap();
        let r = seg.process(&pic.frame(), 0).unwrap();
        outputs.push(r.objects.iter().map(|o| (o.track_id, o.class_id, o.mask.data.clone())).collect::<Vec<_>>());
    }
    // Threads change speed, not results: the same objects with the same masks.
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    let too_many = Threads::intra(MAX_INTRA_THREADS + 1);
    let e = Segmenter::open(&SegmenterSettings { threads: too_many, ..settings(&tiny()) }).err().expect("refused").to_string();
    assert!(e.contains(&format!("threads {}", MAX_INTRA_THREADS + 1)), "{e}");
    let too_many = Threads { encoder: Some(MAX_INTRA_THREADS + 1), ..Default::default() };
    let e = Segmenter::open(&SegmenterSettings { threads: too_many, ..settings(&tiny()) }).err().expect("refused").to_string();
    assert!(e.contains(&format!("encoder threads {}", MAX_INTRA_THREADS + 1)), "{e}");
}
