//! Several `segment` elements in one process share one loaded model (provider cpu, same
//! bundle and threads): a real pipeline with two branches reports `engine-users` = 2 on
//! both, both use the very same model, each branch's objects are those of a pipeline with
//! one `segment` alone, and the model is freed when the pipeline stops. Other `threads`:
//! a model of its own.
mod segment_support;

use gst::prelude::*;
use gstsegstream::segment::Segment;
use segment_support::*;
use segstream::runtime::EngineWatch;
use std::sync::{Arc, Mutex};

/// One frame's objects as compared: (frame, [(track id, class, score, box, mask area)]).
type Frame = (u64, Vec<(u64, usize, f32, [f32; 4], usize)>);

/// Collects every buffer's results meta arriving at `sink` (a fakesink).
fn collect(pipeline: &gst::Pipeline, sink: &str) -> Arc<Mutex<Vec<Frame>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pad = pipeline.by_name(sink).unwrap().static_pad("sink").unwrap();
    let out = seen.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let r = gstsegstream::meta::read(buffer).expect("every processed frame has the meta").expect("readable meta");
            let objects =
                r.objects.iter().map(|o| (o.track_id, o.class_id, o.score, [o.bbox.x, o.bbox.y, o.bbox.w, o.bbox.h], o.mask.area()));
            out.lock().unwrap().push((r.frame, objects.collect()));
        }
        gst::PadProbeReturn::Ok
    });
    seen
}

fn branch(name: &str) -> String {
    branch_with(name, "")
}

fn branch_with(name: &str, options: &str) -> String {
    format!("t. ! queue ! segment name={name} model={} {options} ! fakesink name={name}_sink sync=false", bundle().display())
}

fn users(p: &gst::Pipeline, name: &str) -> u32 {
    p.by_name(name).unwrap().property::<u32>("engine-users")
}

fn watch(p: &gst::Pipeline, name: &str) -> EngineWatch {
    let element = p.by_name(name).unwrap().downcast::<Segment>().unwrap();
    element.engine_watch().expect("a started segment on provider cpu uses a shared model")
}

/// Runs `description` to EOS; `check_paused` sees the pipeline once every element started.
fn run(description: &str, sinks: &[&str], check_paused: impl FnOnce(&gst::Pipeline)) -> Vec<Vec<Frame>> {
    init();
    let pipeline = gst::parse::launch(description).unwrap().downcast::<gst::Pipeline>().unwrap();
    let seen: Vec<_> = sinks.iter().map(|s| collect(&pipeline, s)).collect();
    pipeline.set_state(gst::State::Paused).unwrap();
    assert_eq!(pipeline.state(gst::ClockTime::from_seconds(60)).0, Ok(gst::StateChangeSuccess::Success));
    check_paused(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(180), &[gst::MessageType::Eos, gst::MessageType::Error]).expect("EOS in time");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("pipeline error: {} ({:?})", e.error(), e.debug());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    seen.iter().map(|s| s.lock().unwrap().clone()).collect()
}

const SOURCE: &str = "segtestsrc seed=1000003 num-buffers=12 ! video/x-raw,format=RGB,width=160,height=120,framerate=30/1 ! tee name=t";

#[test]
fn two_segment_elements_share_one_engine_and_each_finds_what_one_alone_finds() {
    let mut model = None;
    let two = run(&format!("{SOURCE} {} {}", branch("a"), branch("b")), &["a_sink", "b_sink"], |p| {
        assert_eq!((users(p, "a"), users(p, "b")), (2, 2), "both elements use one loaded model");
        assert!(watch(p, "a").same_engine(&watch(p, "b")), "the very same model");
        model = Some(watch(p, "a"));
    });
    assert!(!model.unwrap().is_loaded(), "freed when the last element using it stopped");
    let one = run(&format!("{SOURCE} {}", branch("solo")), &["solo_sink"], |p| {
        assert_eq!(users(p, "solo"), 1, "the two-branch pipeline released its model");
    });
    let solo = &one[0];
    assert_eq!(solo.len(), 12, "every frame of a non-live source is processed");
    assert!(solo.iter().map(|f| f.1.len()).sum::<usize>() > 0, "the world's objects are found: the comparison can fail");
    for (name, got) in ["a", "b"].iter().zip(&two) {
        assert_eq!(got, solo, "branch {name}: objects differ from a single element on the same frames");
    }
}

#[test]
fn engine_users_is_zero_while_stopped() {
    init();
    let element = gst::ElementFactory::make("segment").property("model", bundle().to_str().unwrap()).build().unwrap();
    assert_eq!(element.property::<u32>("engine-users"), 0);
}

#[test]
fn segment_elements_with_other_threads_do_not_share() {
    // threads 2 and 3: values no other test of this binary uses, so counts are this test's.
    let description = format!("{SOURCE} {} {}", branch_with("two", "threads=2"), branch_with("three", "threads=3"));
    run(&description, &["two_sink", "three_sink"], |p| {
        assert_eq!((users(p, "two"), users(p, "three")), (1, 1), "each element has a model of its own");
        assert!(!watch(p, "two").same_engine(&watch(p, "three")));
    });
}

#[test]
fn encoder_threads_make_another_model_with_the_same_objects() {
    // encoder-threads 2 (threads 1) and 3: values no other test of this binary uses.
    let description = format!("{SOURCE} {} {}", branch_with("enc2", "encoder-threads=2"), branch_with("enc3", "encoder-threads=3"));
    let frames = run(&description, &["enc2_sink", "enc3_sink"], |p| {
        assert_eq!(p.by_name("enc2").unwrap().property::<i32>("encoder-threads"), 2);
        assert_eq!((users(p, "enc2"), users(p, "enc3")), (1, 1), "another encoder thread count: a model of its own");
    });
    // encoder-threads=1: the default's threads under a key of its own (the counts of the
    // other tests stay theirs).
    let alone = run(&format!("{SOURCE} {}", branch_with("alone", "encoder-threads=1")), &["alone_sink"], |_| ());
    assert!(alone[0].iter().map(|f| f.1.len()).sum::<usize>() > 0, "objects are found: the comparison can fail");
    assert_eq!(frames[0], alone[0], "threads change speed, not objects");
    assert_eq!(frames[1], alone[0]);
}
