//! `Segmenter::process_ahead` (the encoder one frame ahead on a thread of its own) on the
//! default bundle and real world frames: the same results as `process`, one call later,
//! frame for frame; the last frame comes out of `finish_ahead`; a flush forgets the frame
//! in flight; switching back to `process` works; a bad frame fails alone.
mod runtime_common;
#[path = "support/world_frames.rs"]
mod world_frames;

use runtime_common::tiny;
use segstream::segmenter::{FrameRef, FrameResult, PixelFormat, Segmenter, SegmenterSettings};
use segstream::world::{Difficulty, World, WorldConfig};

const SIZE: usize = 160;

fn open() -> Segmenter {
    Segmenter::open(&SegmenterSettings { model: Some(tiny()), ..Default::default() }).unwrap()
}

fn video(seed: u64, n: u64) -> Vec<Vec<u8>> {
    let mut world = World::new(WorldConfig::new(seed, Difficulty::Normal, SIZE, SIZE)).unwrap();
    world_frames::frames(&mut world, n).into_iter().map(|(rgb, _)| rgb).collect()
}

fn frame(rgb: &[u8]) -> FrameRef<'_> {
    FrameRef { format: PixelFormat::Rgb, width: SIZE, height: SIZE, planes: [rgb, &[], &[]], strides: [SIZE * 3, 0, 0] }
}

/// One frame's result as compared: frame number, then (track id, label, score bits, box, mask).
type Objects = (u64, Vec<(u64, String, u32, [f32; 4], Vec<u8>)>);

fn objects(r: &FrameResult) -> Objects {
    let objs = r
        .objects
        .iter()
        .map(|o| (o.track_id, o.label.clone(), o.score.to_bits(), [o.bbox.x, o.bbox.y, o.bbox.w, o.bbox.h], o.mask.data.clone()));
    (r.frame, objs.collect())
}

fn in_order(seg: &mut Segmenter, frames: &[Vec<u8>]) -> Vec<Objects> {
    frames.iter().enumerate().map(|(k, rgb)| objects(seg.process(&frame(rgb), k as u64).unwrap())).collect()
}

/// Every frame through `process_ahead`, then `finish_ahead`.
fn ahead(seg: &mut Segmenter, frames: &[Vec<u8>]) -> Vec<Objects> {
    let mut out = Vec::new();
    for (k, rgb) in frames.iter().enumerate() {
        let r = seg.process_ahead(&frame(rgb), k as u64).unwrap();
        assert_eq!(r.is_none(), k == 0, "frame {k}: the previous frame's result, none for the first");
        out.extend(r.map(|(r, _)| objects(r)));
        assert_eq!(seg.ahead_in_flight(), Some(k as u64), "frame {k} is with the encoder thread");
    }
    out.extend(seg.finish_ahead().unwrap().map(|(r, _)| objects(r)));
    assert_eq!(seg.ahead_in_flight(), None);
    assert!(seg.finish_ahead().unwrap().is_none(), "nothing left to finish");
    out
}

#[test]
fn encoding_ahead_gives_the_results_of_process_frame_for_frame() {
    let frames = video(1000021, 24);
    let expected = in_order(&mut open(), &frames);
    let found: usize = expected.iter().map(|(_, o)| o.len()).sum();
    assert!(found > 24, "the world's objects are found ({found}): the comparison can fail");
    let ids: std::collections::BTreeSet<u64> = expected.iter().flat_map(|(_, o)| o.iter().map(|x| x.0)).collect();
    assert!(ids.len() >= 2, "several tracks, so the tracker's order matters: {ids:?}");
    let mut seg = open();
    assert!(seg.can_encode_ahead(), "CPU provider: the encoder can run on a thread of its own");
    assert_eq!(ahead(&mut seg, &frames), expected);
}

#[test]
fn a_flush_forgets_the_frame_in_flight_and_process_takes_the_encoder_back() {
    let frames = video(1000022, 12);
    let mut reference = open();
    let first: Vec<Objects> = in_order(&mut reference, &frames[..6]);
    reference.reset();
    let after_reset = in_order(&mut reference, &frames[6..]);

    let mut seg = open();
    let mut got = Vec::new();
    for (k, rgb) in frames[..7].iter().enumerate() {
        got.extend(seg.process_ahead(&frame(rgb), k as u64).unwrap().map(|(r, _)| objects(r)));
    }
    assert_eq!(got, first, "frames 0-5 finished; frame 6 is still in flight");
    // A flush: frame 6 is dropped untracked, and the stream restarts at frame 6.
    seg.discard_ahead();
    seg.reset();
    let e = {
        let _ = seg.process_ahead(&frame(&frames[6]), 6).unwrap();
        seg.process(&frame(&frames[7]), 7).expect_err("a frame in flight blocks process").to_string()
    };
    assert!(e.contains("frame 6 is still being encoded ahead"), "{e}");
    let (r, took) = seg.finish_ahead().unwrap().expect("frame 6");
    assert!(took > std::time::Duration::ZERO);
    let mut rest = vec![objects(r)];
    // Back to `process` on the caller's thread for the rest of the stream.
    rest.extend(frames.iter().enumerate().skip(7).map(|(k, rgb)| objects(seg.process(&frame(rgb), k as u64).unwrap())));
    let expected: Vec<Objects> = after_reset.iter().enumerate().map(|(i, (_, o))| ((6 + i) as u64, o.clone())).collect();
    assert_eq!(rest, expected);
}

#[test]
fn a_bad_frame_fails_alone_and_the_frame_in_flight_survives() {
    let frames = video(1000023, 4);
    let expected = in_order(&mut open(), &frames);
    let mut seg = open();
    assert!(seg.process_ahead(&frame(&frames[0]), 0).unwrap().is_none());
    let short =
        FrameRef { format: PixelFormat::Rgb, width: SIZE, height: SIZE, planes: [&frames[1][..100], &[], &[]], strides: [SIZE * 3, 0, 0] };
    let e = seg.process_ahead(&short, 1).expect_err("a truncated frame is refused").to_string();
    assert!(!e.is_empty());
    assert_eq!(seg.ahead_in_flight(), Some(0), "frame 0 is still in flight");
    let mut got = Vec::new();
    for (k, rgb) in frames.iter().enumerate().skip(1) {
        got.extend(seg.process_ahead(&frame(rgb), k as u64).unwrap().map(|(r, _)| objects(r)));
    }
    got.extend(seg.finish_ahead().unwrap().map(|(r, _)| objects(r)));
    assert_eq!(got, expected, "the refused frame changed nothing");
}
