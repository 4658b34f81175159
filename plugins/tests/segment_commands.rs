//! `segment` commands in a gst_check::Harness with the real tiny bundle: the target cap
//! refuses commands instead of breaking the decoder, both event forms go through the same
//! checks, and outcomes asked for with `reply=true` come back downstream.
mod segment_support;

use gst::prelude::*;
use gst_video::VideoFormat;
use gstsegstream::segment::COMMAND_RESULT_EVENT;
use segment_support::*;

const W: u32 = 160;
const H: u32 = 120;

fn upstream(s: gst::Structure) -> gst::Event {
    gst::event::CustomUpstream::new(s)
}

fn json(body: &str) -> gst::Event {
    upstream(gst::Structure::builder("segstream-command").field("json", body).field("reply", true).build())
}

/// Pushes one frame; returns the command results that came out ahead of it.
fn frame_results(h: &mut gst_check::Harness, seed: u8) -> Vec<gst::Structure> {
    h.push(frame(VideoFormat::Rgb, W, H, seed)).expect("the frame is processed");
    h.pull().expect("a buffer comes out");
    let mut out = Vec::new();
    while let Some(ev) = h.try_pull_event() {
        if let Some(s) = ev.structure().filter(|s| s.name() == COMMAND_RESULT_EVENT) {
            out.push(s.to_owned());
        }
    }
    out
}

fn warnings(bus: &gst::Bus) -> Vec<String> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// 33 box commands against the default cap of 32: the 33rd is refused with the reason
/// (it used to be added anyway, and the decoder then failed every frame with
/// "prompt batch [P=33, ...] is outside P in [1, 32]", stopping the stream).
#[test]
fn the_target_cap_refuses_commands_and_the_stream_goes_on() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("detect-interval", "0")]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    for i in 0..33 {
        let (x, y) = (4 * (i % 16), 40 * (i / 16));
        assert!(h.push_upstream_event(json(&format!(r#"{{"id":"{i}","command":"add_target","box":[{x},{y},12,12]}}"#))));
    }
    let results = frame_results(&mut h, 1);
    assert_eq!(results.len(), 33);
    let ok: Vec<bool> = results.iter().map(|s| s.get::<bool>("ok").unwrap()).collect();
    assert!(ok[..32].iter().all(|&o| o), "{results:?}");
    let refused = &results[32];
    assert_eq!((refused.get::<bool>("ok").unwrap(), refused.get::<&str>("id").unwrap()), (false, "32"));
    let error = refused.get::<&str>("error").unwrap();
    assert!(error.contains("add_target") && error.contains("max_targets = 32"), "{error}");
    assert!(warnings(&bus).iter().any(|w| w.contains("max_targets = 32")));
    for seed in 2..5 {
        frame_results(&mut h, seed);
    }
    // A removal makes room again.
    let first = results[0].get::<u64>("track-id").unwrap();
    assert!(h.push_upstream_event(json(&format!(r#"{{"command":"remove_target","track_id":{first}}}"#))));
    assert!(h.push_upstream_event(json(r#"{"id":"again","command":"add_target","box":[1,1,10,10]}"#)));
    let results = frame_results(&mut h, 6);
    assert_eq!(results.iter().map(|s| s.get::<bool>("ok").unwrap()).collect::<Vec<_>>(), [true, true], "{results:?}");
}

/// The gst-launch form and the JSON form become the same request and meet the same
/// checks when applied; results name the cause.
#[test]
fn both_event_forms_share_the_checks() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("detect-interval", "3")]);
    let launch = "segstream-command, action=add-box, x=150, y=100, w=20, h=20, reply=true".parse::<gst::Structure>().unwrap();
    assert!(h.push_upstream_event(upstream(launch)));
    assert!(h.push_upstream_event(json(r#"{"id":"j","command":"add_target","box":[150,100,20,20]}"#)));
    let interval = "segstream-command, action=set-detect-interval, interval=0, reply=true".parse::<gst::Structure>().unwrap();
    assert!(h.push_upstream_event(upstream(interval)));
    let results = frame_results(&mut h, 1);
    let errors: Vec<Option<String>> = results.iter().map(|s| s.get::<String>("error").ok()).collect();
    let outside = "segment: add_target: box [150, 100, 20, 20] is outside the 160x120 frame";
    assert_eq!(errors, [Some(outside.into()), Some(outside.into()), None]);
    assert_eq!(h.element().unwrap().property::<u32>("detect-interval"), 0, "the command and the property share one setting");
    // Unknown fields are refused in both forms, at once.
    let extra = "segstream-command, action=remove, id=1, colour=red".parse::<gst::Structure>().unwrap();
    assert!(!h.push_upstream_event(upstream(extra)));
    let extra = gst::Structure::builder("segstream-command").field("json", r#"{"command":"remove_target","track_id":1,"x":1}"#).build();
    assert!(!h.push_upstream_event(upstream(extra)));
}

/// A mask given at 8192x8192 is decoded once, at the model input size, into a target.
#[test]
fn a_large_mask_command_becomes_a_target() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("detect-interval", "0")]);
    let side = 8192u64;
    // Columns 2048..4096, every row: a vertical band a quarter of the picture wide.
    let counts = segstream::rle::pack(&[side * 2048, side * 2048, side * side - side * 4096]);
    let body = format!(r#"{{"id":"m","command":"add_target","mask":{{"size":[8192,8192],"counts":"{counts}"}}}}"#);
    assert!(body.len() < 100);
    assert!(h.push_upstream_event(json(&body)));
    let results = frame_results(&mut h, 1);
    assert_eq!(results.len(), 1);
    assert!(results[0].get::<bool>("ok").unwrap(), "{results:?}");
    assert!(results[0].get::<u64>("track-id").is_ok());
}

/// `max-targets` set past the bundle's `max_prompts` while playing is capped (with a
/// warning): commands still cannot push the prompt batch past the decoder's bound.
#[test]
fn max_targets_set_while_playing_is_capped_at_the_bundle_limit() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("detect-interval", "0")]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    frame_results(&mut h, 1);
    h.element().unwrap().set_property("max-targets", 100u32);
    for i in 0..33 {
        let (x, y) = (4 * (i % 16), 40 * (i / 16));
        assert!(h.push_upstream_event(json(&format!(r#"{{"command":"add_target","box":[{x},{y},12,12]}}"#))));
    }
    let results = frame_results(&mut h, 2);
    let refused: Vec<String> = results.iter().filter_map(|s| s.get::<String>("error").ok()).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("max_targets = 32"), "{refused:?}");
    assert!(warnings(&bus).iter().any(|w| w.contains("max-targets is capped at the bundle's max_prompts = 32")));
    frame_results(&mut h, 3);
}
