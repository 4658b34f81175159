//! Streams of one process on the default bundle `engines/tiny` share one loaded model
//! (provider cpu, same threads): real ONNX Runtime, real world frames. Who shares, what two
//! streams running at once on two threads produce (exactly what one stream alone does),
//! and the model's lifetime (a stream keeps working when another stops; the last stop
//! frees it).
mod runtime_common;
#[path = "support/world_frames.rs"]
mod world_frames;

use runtime_common::tiny;
use segstream::runtime::Threads;
use segstream::segmenter::{FrameRef, FrameResult, PixelFormat, Segmenter, SegmenterSettings};
use segstream::world::{Difficulty, World, WorldConfig};

const SIZE: usize = 160;

/// The model is shared process-wide, so user counts see every test of this binary: the
/// tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn open(intra: usize) -> Segmenter {
    let settings = SegmenterSettings { model: Some(tiny()), threads: Threads::intra(intra), ..Default::default() };
    Segmenter::open(&settings).unwrap()
}

/// A world video's first `n` frames (packed RGB).
fn video(seed: u64, n: u64) -> Vec<Vec<u8>> {
    let mut world = World::new(WorldConfig::new(seed, Difficulty::Normal, SIZE, SIZE)).unwrap();
    world_frames::frames(&mut world, n).into_iter().map(|(rgb, _)| rgb).collect()
}

/// One frame's objects as compared: (track id, label, score bits, box, mask).
type Objects = Vec<(u64, String, u32, [f32; 4], Vec<u8>)>;

fn objects(r: &FrameResult) -> Objects {
    r.objects
        .iter()
        .map(|o| (o.track_id, o.label.clone(), o.score.to_bits(), [o.bbox.x, o.bbox.y, o.bbox.w, o.bbox.h], o.mask.data.clone()))
        .collect()
}

/// Frames `from..` of `frames` through `seg` (frame numbers continue the stream).
fn run(seg: &mut Segmenter, frames: &[Vec<u8>], from: usize) -> Vec<Objects> {
    let mut out = Vec::new();
    for (k, rgb) in frames.iter().enumerate().skip(from) {
        let frame = FrameRef { format: PixelFormat::Rgb, width: SIZE, height: SIZE, planes: [rgb, &[], &[]], strides: [SIZE * 3, 0, 0] };
        out.push(objects(seg.process(&frame, k as u64).unwrap()));
    }
    out
}

#[test]
fn segmenters_with_the_same_bundle_and_threads_share_one_model_and_other_threads_do_not() {
    let _turn = serial();
    let a = open(1);
    let b = open(1);
    let (wa, wb) = (a.engine_watch().unwrap(), b.engine_watch().unwrap());
    assert!(wa.same_engine(&wb), "same bundle, same threads: the very same loaded model");
    assert_eq!((a.engine_users(), b.engine_users()), (2, 2));
    let c = open(2);
    let wc = c.engine_watch().unwrap();
    assert!(!wc.same_engine(&wa), "two intra-op threads: another model");
    assert_eq!((c.engine_users(), a.engine_users()), (1, 2));
    let settings =
        SegmenterSettings { model: Some(tiny()), threads: Threads { encoder: Some(2), ..Threads::intra(1) }, ..Default::default() };
    let d = Segmenter::open(&settings).unwrap();
    assert!(!d.engine_watch().unwrap().same_engine(&wa), "another encoder thread count: another model");
}

#[test]
fn two_streams_at_once_on_two_threads_produce_what_one_stream_alone_produces() {
    let _turn = serial();
    let videos = [video(1000011, 10), video(1000012, 10)];
    let alone: Vec<Vec<Objects>> = videos.iter().map(|v| run(&mut open(1), v, 0)).collect();
    assert!(alone.iter().flatten().map(Vec::len).sum::<usize>() > 0, "the world's objects are found: the comparison can fail");
    assert_ne!(alone[0], alone[1], "different videos, different objects");
    let mut streams = [open(1), open(1)];
    assert!(streams[0].engine_watch().unwrap().same_engine(&streams[1].engine_watch().unwrap()));
    let together: Vec<Vec<Objects>> = std::thread::scope(|scope| {
        let runs: Vec<_> = streams.iter_mut().zip(&videos).map(|(seg, v)| scope.spawn(move || run(seg, v, 0))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (k, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a, t, "stream {k}: objects differ from the same video run alone");
    }
}

#[test]
fn a_stream_keeps_working_when_another_stops_and_the_last_stop_frees_the_model() {
    let _turn = serial();
    let frames = video(1000013, 8);
    let alone = run(&mut open(1), &frames, 0);
    let mut a = open(1);
    let b = open(1);
    let watch = a.engine_watch().unwrap();
    assert_eq!(watch.users(), 2);
    let mut got = run(&mut a, &frames[..4], 0);
    drop(b);
    assert_eq!((watch.users(), watch.is_loaded()), (1, true), "the other stream still holds the model");
    got.extend(run(&mut a, &frames, 4));
    assert_eq!(got, alone, "the remaining stream's objects are those of a stream that ran alone");
    drop(a);
    assert!(!watch.is_loaded(), "the last user's stop frees the model");
    let again = open(1);
    assert!(!again.engine_watch().unwrap().same_engine(&watch), "the next start loads it anew");
    assert_eq!(again.engine_users(), 1);
}
