//! `segment` behind a source faster than the model: late frames are dropped before the
//! model runs (counted, numbered, announced by QoS messages), the output stays in order,
//! and the latency query answers the processing time (real pipelines, real model).
mod segment_support;

use gst::prelude::*;
use gstsegstream::meta;
use segment_support::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the probes around `segment` saw.
#[derive(Default)]
struct Seen {
    /// PTS of every frame that entered, in order, with when it entered.
    input: Vec<(gst::ClockTime, Instant)>,
    /// PTS, meta frame number and leaving time of every frame that came out.
    output: Vec<(gst::ClockTime, Option<u64>, Instant)>,
}

struct Run {
    seen: Seen,
    dropped: u64,
    /// Per QoS message from `segment`: (timestamp, dropped count in its stats).
    qos: Vec<(Option<gst::ClockTime>, u64)>,
    /// Latency answered at the sink, upstream of `segment`, and its processing-latency property.
    latency: Option<(gst::ClockTime, gst::ClockTime, u64)>,
}

/// `videotestsrc` at 200 fps (5 ms per frame, several times faster than the model) into
/// `segment` (with `seg_props`) and a sink with `sink_props`.
fn run(live: bool, frames: u32, seg_props: &str, sink_props: &str) -> Run {
    init();
    let desc = format!(
        "videotestsrc is-live={live} num-buffers={frames} pattern=ball ! video/x-raw,format=RGB,width=320,height=240,framerate=200/1 \
         ! segment name=s model={} {seg_props} ! fakesink name=out {sink_props}",
        bundle().display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let seg = pipeline.by_name("s").unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    seg.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(b) = info.buffer() {
            s.lock().unwrap().input.push((b.pts().unwrap(), Instant::now()));
        }
        gst::PadProbeReturn::Ok
    });
    let s = seen.clone();
    seg.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(b) = info.buffer() {
            let frame = meta::read(b).map(|r| r.expect("the meta parses").frame);
            s.lock().unwrap().output.push((b.pts().unwrap(), frame, Instant::now()));
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut qos = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Qos(q) if msg.src() == Some(seg.upcast_ref()) => {
                let (_, _, _, timestamp, _) = q.get();
                let (_, dropped) = q.stats();
                qos.push((timestamp, dropped.value() as u64));
            }
            _ => (),
        }
    }
    let latency = (live && sink_props.contains("sync=true")).then(|| {
        let mut total = gst::query::Latency::new();
        assert!(pipeline.by_name("out").unwrap().query(&mut total), "the sink answers the latency query");
        let mut upstream = gst::query::Latency::new();
        assert!(seg.static_pad("sink").unwrap().peer_query(&mut upstream));
        let (live_total, min_total, _) = total.result();
        assert!(live_total);
        let mut at_segment = gst::query::Latency::new();
        assert!(seg.static_pad("src").unwrap().query(&mut at_segment));
        let (upstream, ours) = (upstream.result().1, seg.property::<u64>("processing-latency"));
        assert_eq!(at_segment.result().1.nseconds(), upstream.nseconds() + ours, "segment answers upstream + its processing latency");
        (min_total, upstream, ours)
    });
    let dropped = seg.property::<u64>("frames-dropped");
    pipeline.set_state(gst::State::Null).unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    Run { seen, dropped, qos, latency }
}

/// Frames dropped; output in order; every frame out has a meta numbered as its place in
/// the input, so the numbers skip exactly the dropped frames; one QoS message per drop.
fn check_drops(r: &Run, frames: usize) {
    let (input, output) = (&r.seen.input, &r.seen.output);
    assert_eq!(input.len(), frames);
    assert!(r.dropped > 0, "a source 5x faster than the model: some frames are dropped");
    assert_eq!(output.len() as u64 + r.dropped, frames as u64, "every frame is either processed or dropped");
    assert!(output.windows(2).all(|w| w[0].0 < w[1].0), "output PTS strictly increasing");
    let place: HashMap<gst::ClockTime, u64> = input.iter().enumerate().map(|(i, (pts, _))| (*pts, i as u64)).collect();
    for (pts, frame, _) in output {
        assert_eq!(*frame, Some(place[pts]), "frame at {pts}: numbered by its place in the stream");
    }
    let out_pts: Vec<gst::ClockTime> = output.iter().map(|o| o.0).collect();
    let dropped_pts: Vec<gst::ClockTime> = input.iter().map(|i| i.0).filter(|p| !out_pts.contains(p)).collect();
    assert_eq!(dropped_pts.len() as u64, r.dropped);
    assert_eq!(r.qos.len() as u64, r.dropped, "one QoS message per dropped frame");
    for (k, (ts, dropped)) in r.qos.iter().enumerate() {
        assert_eq!(*ts, Some(dropped_pts[k]), "QoS message {k} names the dropped frame");
        assert_eq!(*dropped, k as u64 + 1, "QoS message {k}: running count of drops");
    }
}

#[test]
fn live_source_faster_than_the_model_drops_late_frames_and_latency_covers_processing() {
    let r = run(true, 120, "", "sync=true");
    check_drops(&r, 120);
    // The latency segment adds: upstream's plus its processing-latency estimate, which is
    // at least the median of the processing times the probes measured on the last frames.
    let (total, upstream, ours) = r.latency.unwrap();
    assert!(total.nseconds() >= upstream.nseconds() + ours, "the sink's answer includes segment's processing latency");
    assert!(ours > 0);
    let at: HashMap<gst::ClockTime, Instant> = r.seen.input.iter().copied().collect();
    let mut took: Vec<u64> = r.seen.output.iter().rev().take(16).map(|(pts, _, out)| (*out - at[pts]).as_nanos() as u64).collect();
    took.sort_unstable();
    assert!(ours >= took[took.len() / 2], "processing latency {ours} ns < median measured {} ns", took[took.len() / 2]);
}

#[test]
fn synchronising_sink_qos_events_make_segment_drop_frames_of_a_non_live_source() {
    let r = run(false, 60, "", "sync=true qos=true");
    check_drops(&r, 60);
}

#[test]
fn every_frame_is_processed_with_qos_off_or_without_lateness_limit() {
    for (props, sink) in [("qos=false", "sync=true qos=true"), ("max-lateness=-1", "sync=false")] {
        let r = run(true, 20, props, sink);
        assert_eq!(r.dropped, 0, "{props}");
        let frames: Vec<Option<u64>> = r.seen.output.iter().map(|o| o.1).collect();
        assert_eq!(frames, (0..20).map(Some).collect::<Vec<_>>(), "{props}");
        assert!(r.qos.is_empty(), "{props}");
    }
}
