//! The optional int8 bundle (engines/tiny-int8, written by engines/tools/quantize_bundle.py)
//! through `segment` in a real pipeline: it loads unchanged, names itself in the meta, finds
//! the objects of held-out world videos with their true classes, and agrees with the fp32
//! default on the same frames.
mod segment_support;

use gst_video::VideoFormat;
use gstsegstream::meta;
use segment_support::*;
use segstream::frame_result::FrameResult;
use segstream::world::FrameTruth;
use std::path::{Path, PathBuf};

const SIZE: u32 = 256;
const FRAMES: u64 = 4;
/// Held-out seeds (1000000..): never used for training or calibration.
const SEEDS: [u64; 2] = [1_000_001, 1_000_002];
/// Objects smaller than this (1 % of the frame) are not required to be found.
const MIN_AREA: usize = (SIZE * SIZE / 100) as usize;

fn int8_bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tiny-int8")
}

/// `segment model=<bundle>` over frames 0..FRAMES of one world video, with their truth.
fn run(model: &Path, seed: u64) -> Vec<(FrameResult, FrameTruth)> {
    init();
    let element = gst::ElementFactory::make("segment").property("model", model.to_str().unwrap()).build().unwrap();
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps(caps(VideoFormat::Rgb, SIZE, SIZE));
    h.play();
    world_frames_with_truth(seed, SIZE, SIZE, FRAMES)
        .into_iter()
        .map(|(buf, truth)| {
            h.push(buf).unwrap();
            let result = meta::read(&h.pull().expect("a buffer comes out")).expect("a meta").expect("the meta parses");
            (result, truth)
        })
        .collect()
}

/// (true objects of at least MIN_AREA, found with mask IoU >= 0.5, found with the true label).
fn recall(frames: &[(FrameResult, FrameTruth)]) -> (usize, usize, usize) {
    let (mut total, mut found, mut labelled) = (0, 0, 0);
    for (result, truth) in frames {
        for (i, o) in truth.visible().filter(|(_, o)| o.visible_area >= MIN_AREA) {
            total += 1;
            let gt = truth.mask(i);
            let best = result.objects.iter().max_by(|a, b| a.mask.iou(&gt).total_cmp(&b.mask.iou(&gt)));
            if let Some(b) = best.filter(|b| b.mask.iou(&gt) >= 0.5) {
                found += 1;
                labelled += usize::from(b.label == o.label);
            }
        }
    }
    (total, found, labelled)
}

#[test]
fn int8_bundle_finds_world_objects_with_their_classes() {
    let (mut total, mut found, mut labelled) = (0, 0, 0);
    for seed in SEEDS {
        let frames = run(&int8_bundle(), seed);
        assert!(frames.iter().all(|(r, _)| r.model == "tiny-int8"), "the meta names another model");
        let (t, f, l) = recall(&frames);
        (total, found, labelled) = (total + t, found + f, labelled + l);
    }
    assert!(total >= 8, "only {total} objects of >= {MIN_AREA} px in the test frames");
    assert!(found * 10 >= total * 7, "int8 found {found} of {total} objects (mask IoU >= 0.5)");
    assert!(labelled * 10 >= found * 9, "{labelled} of {found} found objects carry their true class");
}

#[test]
fn int8_bundle_agrees_with_fp32_through_segment() {
    let (mut matched, mut iou_sum, mut same_class, mut fp32_objects, mut int8_objects) = (0, 0.0, 0, 0, 0);
    for seed in SEEDS {
        let fp32 = run(&bundle(), seed);
        let int8 = run(&int8_bundle(), seed);
        for ((a, _), (b, _)) in fp32.iter().zip(&int8) {
            assert_eq!((a.model.as_str(), b.model.as_str()), ("tiny", "tiny-int8"));
            fp32_objects += a.objects.len();
            int8_objects += b.objects.len();
            for o in &a.objects {
                let best = b.objects.iter().max_by(|x, y| x.mask.iou(&o.mask).total_cmp(&y.mask.iou(&o.mask)));
                if let Some(p) = best {
                    matched += 1;
                    iou_sum += p.mask.iou(&o.mask);
                    same_class += usize::from(p.class_id == o.class_id);
                }
            }
        }
    }
    assert!(fp32_objects >= 8, "the fp32 default found only {fp32_objects} objects: no comparison");
    assert!(int8_objects.abs_diff(fp32_objects) * 5 <= fp32_objects, "int8 {int8_objects} objects, fp32 {fp32_objects}");
    let mean_iou = iou_sum / matched as f32;
    assert!(mean_iou >= 0.9, "mean mask IoU int8 vs fp32 {mean_iou:.3} over {matched} objects");
    assert!(same_class * 10 >= matched * 9, "{same_class} of {matched} classes agree");
}
