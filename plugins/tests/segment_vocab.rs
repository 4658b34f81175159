//! `segment` with an open vocabulary (gst_check::Harness, real tiny bundle, world frames):
//! the `vocabulary` property with names the bundle does not hold, the `set_vocabulary` and
//! `add_text_target` commands, and bundles without a text encoder.
//!
//! The ground-truth tests need a trained detector: the default bundle, or another one
//! given as `SEGSTREAM_TEST_MODEL` (with the text files). The others hold for any weights.
mod segment_support;

use gst::prelude::*;
use gst_video::VideoFormat;
use gstsegstream::meta;
use segment_support::*;
use segstream::segmenter::FrameResult;
use segstream::world::{Difficulty, FrameTruth, World, WorldConfig};
use std::path::{Path, PathBuf};

#[path = "../../tests/support/text_bundle.rs"]
mod text_bundle;

const SIDE: u32 = 128;

/// World frames as RGB buffers with their ground truth.
fn world(seed: u64, n: u64) -> Vec<(gst::Buffer, FrameTruth)> {
    init();
    let mut w = World::new(WorldConfig::new(seed, Difficulty::Normal, SIDE as usize, SIDE as usize)).unwrap();
    (0..n)
        .map(|t| {
            let mut rgb = vec![0u8; (SIDE * SIDE * 3) as usize];
            let truth = w.render(t, &mut rgb).unwrap();
            (gst::Buffer::from_mut_slice(rgb), truth)
        })
        .collect()
}

fn run(h: &mut gst_check::Harness, frames: &[(gst::Buffer, FrameTruth)]) -> Vec<FrameResult> {
    frames
        .iter()
        .map(|(b, _)| {
            h.push(b.clone()).unwrap();
            meta::read(&h.pull().unwrap()).unwrap().unwrap()
        })
        .collect()
}

/// (truth label, predicted label) of every object matching a true object with IoU > 0.5.
fn labelled(results: &[FrameResult], frames: &[(gst::Buffer, FrameTruth)]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (r, (_, truth)) in results.iter().zip(frames) {
        for o in &r.objects {
            if let Some(k) = (0..truth.objects.len()).find(|&k| truth.mask(k).iou(&o.mask) > 0.5) {
                out.push((truth.objects[k].label, o.label.clone()));
            }
        }
    }
    out
}

/// The tiny bundle without its text encoder.
fn bundle_without_text(dir: &Path) -> PathBuf {
    text_bundle::bundle_without_text(&bundle(), dir)
}

fn json_command(json: &str) -> gst::Event {
    gst::event::CustomUpstream::new(gst::Structure::builder("segstream-command").field("json", json).build())
}

/// `SEGSTREAM_TEST_MODEL` (a trained bundle), else the default bundle.
fn detecting_model() -> PathBuf {
    std::env::var_os("SEGSTREAM_TEST_MODEL").map(PathBuf::from).unwrap_or_else(bundle)
}

fn harness(model: &Path, props: &[(&str, &str)]) -> gst_check::Harness {
    init();
    let element = gst::ElementFactory::make("segment").property("model", model.to_str().unwrap()).build().unwrap();
    for (k, v) in props {
        element.set_property_from_str(k, v);
    }
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps(caps(VideoFormat::Rgb, SIDE, SIDE));
    h.play();
    h
}

/// A user target by mask: the user's mask is the object on the next frame whatever the
/// weights (random weights may decode nothing after it); its label is the vocabulary
/// entry closest to the decoder's class embedding.
fn add_mask(h: &mut gst_check::Harness) {
    let mut m = segstream::mask::Mask::new(SIDE as usize, SIDE as usize);
    for y in 30..80 {
        for x in 30..80 {
            m.data[y * SIDE as usize + x] = 1;
        }
    }
    let rle = serde_json::to_string(&segstream::rle::encode(&m)).unwrap();
    assert!(h.push_upstream_event(json_command(&format!(r#"{{"command":"add_target","mask":{rle}}}"#))));
}

fn labels(results: &[FrameResult]) -> Vec<String> {
    results.iter().flat_map(|r| &r.objects).map(|o| o.label.clone()).collect()
}

#[test]
fn vocabulary_property_with_a_new_name_labels_objects_from_it() {
    let mut h = harness(&bundle(), &[("vocabulary", "disc,red square"), ("detect-interval", "0")]);
    add_mask(&mut h);
    let got = labels(&run(&mut h, &world(9003, 1)));
    assert_eq!(got.len(), 1, "the mask target: {got:?}");
    assert!(got.iter().all(|l| l == "disc" || l == "red square"), "{got:?}");
    assert_eq!(h.element().unwrap().property::<String>("vocabulary"), "disc,red square");
}

#[test]
fn new_vocabulary_labels_match_the_ground_truth() {
    // The first world seed whose first frame shows a disc and a square, both large.
    let seed = (9000..9200)
        .find(|&seed| {
            let t = &world(seed, 1)[0].1;
            ["disc", "square"].iter().all(|c| t.objects.iter().any(|o| o.label == *c && o.visible_area > 200))
        })
        .unwrap();
    let frames = world(seed, 12);
    let mut h = harness(&detecting_model(), &[("vocabulary", "disc,red square")]);
    let results = run(&mut h, &frames);
    let pairs = labelled(&results, &frames);
    println!("(truth, label) of matched objects: {pairs:?}");
    assert!(labels(&results).iter().all(|l| l == "disc" || l == "red square"));
    let discs: Vec<_> = pairs.iter().filter(|p| p.0 == "disc").collect();
    let squares: Vec<_> = pairs.iter().filter(|p| p.0 == "square").collect();
    assert!(!discs.is_empty() && !squares.is_empty(), "the world video shows discs and squares: {pairs:?}");
    assert!(discs.iter().all(|p| p.1 == "disc"), "{discs:?}");
    assert!(squares.iter().all(|p| p.1 == "red square"), "{squares:?}");
}

#[test]
fn set_vocabulary_command_changes_the_labels() {
    let frames = world(9003, 4);
    let mut h = harness(&bundle(), &[("detect-interval", "0")]);
    add_mask(&mut h);
    let before = labels(&run(&mut h, &frames[..2]));
    let bundle_names = ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"];
    assert!(!before.is_empty() && before.iter().all(|l| bundle_names.contains(&l.as_str())), "{before:?}");
    assert!(h.push_upstream_event(json_command(r#"{"command":"set_vocabulary","names":["round thing","red square"]}"#)));
    add_mask(&mut h);
    let after = labels(&run(&mut h, &frames[2..]));
    assert!(!after.is_empty() && after.iter().all(|l| l == "round thing" || l == "red square"), "{after:?}");
    assert_eq!(h.element().unwrap().property::<String>("vocabulary"), "round thing,red square");
}

/// Posts `segstream-target-added` with the reserved id and the text; returns (id, text).
fn text_target_added(bus: &gst::Bus) -> Option<(u64, String)> {
    std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
        gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "segstream-target-added") => {
            let s = e.structure().unwrap();
            Some((s.get::<u64>("track-id").unwrap(), s.get::<String>("text").ok()?))
        }
        _ => None,
    })
}

#[test]
fn add_text_target_command_reserves_an_id_and_answers() {
    let mut h = harness(&bundle(), &[]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    assert!(h.push_upstream_event(json_command(r#"{"command":"add_text_target","text":"a red disc"}"#)));
    run(&mut h, &world(9003, 1));
    let (id, text) = text_target_added(&bus).expect("segstream-target-added for the text target");
    assert_eq!(text, "a red disc");
    assert!(id >= 1);
}

#[test]
fn add_text_target_command_tracks_an_object_of_that_class() {
    let frames = world(9003, 8);
    let mut h = harness(&detecting_model(), &[("detect-interval", "3")]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    run(&mut h, &frames[..1]);
    let label = frames[1].1.objects.iter().max_by_key(|o| o.visible_area).unwrap().label;
    assert!(h.push_upstream_event(json_command(&format!(r#"{{"command":"add_text_target","text":"a {label}"}}"#))));
    let results = run(&mut h, &frames[1..]);
    let (id, _) = text_target_added(&bus).expect("segstream-target-added for the text target");
    let mut seen = 0;
    for (r, (_, truth)) in results.iter().zip(&frames[1..]) {
        if let Some(o) = r.objects.iter().find(|o| o.track_id == id) {
            let k = (0..truth.objects.len()).max_by(|&a, &b| truth.mask(a).iou(&o.mask).total_cmp(&truth.mask(b).iou(&o.mask))).unwrap();
            println!("frame {}: text target {id} on a {} (IoU {:.2})", r.frame, truth.objects[k].label, truth.mask(k).iou(&o.mask));
            assert_eq!(truth.objects[k].label, label, "frame {}", r.frame);
            assert!(truth.mask(k).iou(&o.mask) > 0.5, "frame {}", r.frame);
            seen += 1;
        }
    }
    // Frame 3 is the first detection frame after the command: frames 3..7 show it.
    assert_eq!(seen, 5, "text target {id} on {seen} frames");
}

#[test]
fn without_a_text_encoder_unknown_names_are_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundle_without_text(tmp.path());
    init();
    let pipeline =
        gst::parse::launch(&format!("videotestsrc num-buffers=1 ! segment model={} vocabulary=\"disc,unicorn\" ! fakesink", dir.display()))
            .unwrap();
    let bus = pipeline.bus().unwrap();
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Error]).expect("an error");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else { unreachable!() };
    let err = e.error().to_string();
    assert!(err.contains("class `unicorn` is not in the vocabulary of bundle `tiny`"), "{err}");
    assert!(err.contains("no text encoder"), "{err}");

    // Known names still work; commands that need the text encoder are refused at once.
    let mut h = harness(&dir, &[("vocabulary", "disc,star"), ("detect-interval", "0")]);
    assert!(!h.push_upstream_event(json_command(r#"{"command":"set_vocabulary","names":["disc","blue ring"]}"#)));
    assert!(!h.push_upstream_event(json_command(r#"{"command":"add_text_target","text":"disc"}"#)));
    assert!(h.push_upstream_event(json_command(r#"{"command":"set_vocabulary","names":["ring"]}"#)));
    add_mask(&mut h);
    let got = labels(&run(&mut h, &world(9003, 1)));
    assert_eq!(got, ["ring"]);
}
