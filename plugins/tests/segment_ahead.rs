//! `segment encode-ahead`: the image encoder one frame ahead on a thread of its own. The
//! metas are those of `encode-ahead=off`, frame for frame and in order; each frame leaves
//! when the next one arrives, and no serialized event overtakes it (EOS, caps, segment);
//! a flush drops it; `auto` encodes ahead behind a file-like source and not behind a live
//! one. Real model, real pipelines.
mod segment_support;

use gst::prelude::*;
use gst_video::VideoFormat;
use gstsegstream::meta;
use segment_support::*;
use std::sync::{Arc, Mutex};

const W: u32 = 96;
const H: u32 = 96;

/// `auto` counts the streams that share the loaded model, and every test here opens it:
/// the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A meta as compared: frame number and (track id, label, score bits, mask bytes) per object.
type Seen = (u64, Vec<(u64, String, u32, Vec<u8>)>);

fn seen(buf: &gst::BufferRef) -> Seen {
    let r = meta::read(buf).expect("segment attaches a meta").expect("the meta parses");
    (r.frame, r.objects.iter().map(|o| (o.track_id, o.label.clone(), o.score.to_bits(), o.mask.data.clone())).collect())
}

fn frames(n: u64) -> Vec<gst::Buffer> {
    world_frames(1000031, W, H, n)
        .into_iter()
        .enumerate()
        .map(|(i, (mut b, _))| {
            b.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
            b
        })
        .collect()
}

/// Records what leaves `segment`, in order: buffers (their meta) and event names.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Frame(Seen),
    Event(String),
}

fn record(h: &gst_check::Harness) -> Arc<Mutex<Vec<Out>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let src = h.element().unwrap().static_pad("src").unwrap();
    src.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let out = match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => Out::Frame(seen(b)),
            Some(gst::PadProbeData::Event(e)) => Out::Event(e.type_().name().to_string()),
            _ => return gst::PadProbeReturn::Ok,
        };
        l.lock().unwrap().push(out);
        gst::PadProbeReturn::Ok
    });
    log
}

fn frames_of(log: &[Out]) -> Vec<Seen> {
    log.iter().filter_map(|o| if let Out::Frame(s) = o { Some(s.clone()) } else { None }).collect()
}

/// Every frame pushed with `encode-ahead=off`: the reference.
fn reference(buffers: &[gst::Buffer]) -> Vec<Seen> {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("encode-ahead", "off")]);
    buffers
        .iter()
        .map(|b| {
            h.push(b.clone()).unwrap();
            seen(&h.pull().unwrap())
        })
        .collect()
}

#[test]
fn metas_are_those_of_encode_ahead_off_and_each_frame_leaves_when_the_next_arrives() {
    let _turn = serial();
    let buffers = frames(16);
    let expected = reference(&buffers);
    assert!(expected.iter().map(|s| s.1.len()).sum::<usize>() > 16, "objects are found: the comparison can fail");

    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("encode-ahead", "on")]);
    let log = record(&h);
    let mut got = Vec::new();
    for (i, b) in buffers.iter().enumerate() {
        h.push(b.clone()).unwrap();
        match h.try_pull() {
            Some(out) => {
                assert!(i > 0, "frame 0 is held while it is encoded");
                assert_eq!(out.pts(), buffers[i - 1].pts(), "push {i} releases frame {}", i - 1);
                got.push(seen(&out));
            }
            None => assert_eq!(i, 0, "push {i} releases the frame before it"),
        }
        assert!(h.try_pull().is_none(), "one frame out per frame in");
    }
    assert!(h.element().unwrap().property::<bool>("encoding-ahead"));
    assert!(h.push_event(gst::event::Eos::new()));
    got.push(seen(&h.pull().expect("EOS releases the last frame")));
    assert_eq!(got, expected);
    let log = log.lock().unwrap();
    assert_eq!(log.last(), Some(&Out::Event("eos".into())), "EOS after the last frame: {:?}", log.last());
    assert_eq!(frames_of(&log), expected);
}

#[test]
fn caps_and_segment_events_wait_for_the_held_frame_and_a_flush_drops_it() {
    let _turn = serial();
    let buffers = frames(6);
    let expected = reference(&buffers);
    let mut h = segment_harness(&caps(VideoFormat::Rgb, W, H), &[("encode-ahead", "on")]);
    let log = record(&h);
    h.push(buffers[0].clone()).unwrap();
    h.push(buffers[1].clone()).unwrap();
    // New caps: frame 1 (held) leaves before the caps event, frame numbering goes on.
    h.set_src_caps(caps(VideoFormat::Rgb, W, H + 4));
    {
        let log = log.lock().unwrap();
        let caps_at = log.iter().position(|o| *o == Out::Event("caps".into())).expect("the caps event went through");
        let frames_before: Vec<Seen> =
            log[..caps_at].iter().filter_map(|o| if let Out::Frame(s) = o { Some(s.clone()) } else { None }).collect();
        assert_eq!(frames_before, expected[..2].to_vec(), "frames 0 and 1 leave before the new caps");
    }
    while h.try_pull().is_some() {}
    let taller = world_frames(1000032, W, H + 4, 2);
    h.push(taller[0].0.clone()).unwrap();
    assert!(h.try_pull().is_none(), "frame 2 is held");
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    let r = meta::read(&h.pull().expect("a segment event releases the held frame")).unwrap().unwrap();
    assert_eq!((r.frame, r.height), (2, H as usize + 4));

    // A flush: the held frame is dropped, nothing stale comes out, the counter restarts.
    h.push(taller[1].0.clone()).unwrap();
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    h.set_src_caps(caps(VideoFormat::Rgb, W, H));
    h.push(buffers[0].clone()).unwrap();
    assert!(h.try_pull().is_none(), "the frame held at the flush is gone");
    assert!(h.push_event(gst::event::Eos::new()));
    let r = meta::read(&h.pull().unwrap()).unwrap().unwrap();
    assert_eq!(r.frame, 0, "after the flush the numbering restarts");
    assert!(h.try_pull().is_none());
}

/// `videotestsrc` (live or not) into one or two `segment` branches with default
/// properties (but no late-frame drops: every frame is compared); returns each element's `encoding-ahead` and the meta frame numbers it sent.
fn auto_run(live: bool, branches: usize) -> Vec<(bool, Vec<u64>)> {
    init();
    let branch = |i: usize| {
        format!(
            "videotestsrc is-live={live} num-buffers=8 pattern=ball ! video/x-raw,format=RGB,width=160,height=120,framerate=30/1 \
             ! segment name=s{i} model={} max-lateness=-1 ! fakesink name=out{i} sync=false",
            bundle().display()
        )
    };
    let desc = (0..branches).map(branch).collect::<Vec<_>>().join("  ");
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let frames: Vec<Arc<Mutex<Vec<u64>>>> = (0..branches).map(|_| Arc::default()).collect();
    for (i, f) in frames.iter().enumerate() {
        let f = f.clone();
        let pad = pipeline.by_name(&format!("s{i}")).unwrap().static_pad("src").unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                f.lock().unwrap().push(meta::read(b).unwrap().unwrap().frame);
            }
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline.bus().unwrap().iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            _ => (),
        }
    }
    let out = (0..branches)
        .map(|i| (pipeline.by_name(&format!("s{i}")).unwrap().property::<bool>("encoding-ahead"), frames[i].lock().unwrap().clone()))
        .collect();
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn auto_encodes_ahead_behind_a_file_like_source_with_two_cores_per_stream_and_not_behind_a_live_one() {
    let _turn = serial();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let all: Vec<u64> = (0..8).collect();
    let [(ahead, sent)] = auto_run(false, 1).try_into().unwrap();
    assert_eq!(ahead, cores >= 2, "{cores} cores, one stream, upstream not live");
    assert_eq!(sent, all, "every frame, in order, EOS releasing the last");
    let [(ahead, sent)] = auto_run(true, 1).try_into().unwrap();
    assert!(!ahead, "a live upstream: each frame leaves as soon as it is done");
    assert_eq!(sent, all);
    // Two streams of one loaded model: encoding ahead only with four cores or more.
    for (ahead, sent) in auto_run(false, 2) {
        assert_eq!(ahead, cores >= 4, "{cores} cores, two streams of the same model");
        assert_eq!(sent, all);
    }
}
