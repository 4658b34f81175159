//! `segtestsrc` in a real pipeline position (gst_check::Harness): determinism, ground truth
//! that matches both the core world and the pixels, caps negotiation, timestamps, EOS.
use gst::prelude::*;
use gstsegstream::segtestsrc::{read_ground_truth, GroundTruth};
use segstream::world::{Difficulty, World, WorldConfig};
use std::sync::Once;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstsegstream::plugin_register_static().expect("register plugin");
    });
}

/// A harness around `segtestsrc` with its properties set and downstream caps `caps`.
fn source(seed: u64, difficulty: &str, caps: Option<&str>) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new("segtestsrc");
    let e = h.element().unwrap();
    e.set_property("seed", seed);
    e.set_property_from_str("difficulty", difficulty);
    if let Some(caps) = caps {
        h.set_sink_caps_str(caps);
    }
    // One buffer in flight at a time: a free-running source would otherwise queue an
    // unbounded, scheduling-dependent number of buffers ahead of the test's pulls.
    h.set_blocking_push_mode();
    h.play();
    h
}

fn pull(h: &mut gst_check::Harness, n: usize) -> Vec<(Vec<u8>, GroundTruth, gst::Buffer)> {
    (0..n)
        .map(|_| {
            let b = h.pull().expect("buffer");
            let data = b.map_readable().unwrap().to_vec();
            let truth = read_ground_truth(&b).expect("ground truth meta").expect("meta parses");
            (data, truth, b)
        })
        .collect()
}

const RGB_64: &str = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";

#[test]
fn same_seed_same_buffers_and_truth_different_seed_differs() {
    let a = pull(&mut source(21, "hard", Some(RGB_64)), 15);
    let b = pull(&mut source(21, "hard", Some(RGB_64)), 15);
    let c = pull(&mut source(22, "hard", Some(RGB_64)), 15);
    for k in 0..15 {
        assert!(a[k].0 == b[k].0, "frame {k} pixels differ for the same seed");
        assert_eq!(a[k].1, b[k].1, "frame {k} truth differs for the same seed");
        assert!(a[k].0 != c[k].0, "frame {k} identical for seeds 21 and 22");
        assert_eq!(a[k].1.frame, k as u64);
        assert_eq!(a[k].1.seed, 21);
    }
}

/// The element shows exactly the core world (same seed and size), and its meta carries
/// exactly the world's truth: masks, classes, ids, boxes and visible fractions.
#[test]
fn truth_meta_matches_the_core_world() {
    let frames = pull(&mut source(8, "normal", Some("video/x-raw,format=RGB,width=96,height=72,framerate=30/1")), 12);
    let mut world = World::new(WorldConfig::new(8, Difficulty::Normal, 96, 72)).unwrap();
    let mut rgb = vec![0u8; 96 * 72 * 3];
    for (f, (data, gt, _)) in frames.iter().enumerate() {
        let truth = world.render(f as u64, &mut rgb).unwrap();
        assert!(*data == rgb, "frame {f}: pixels differ from the core world");
        assert_eq!((gt.width, gt.height), (96, 72));
        assert_eq!(gt.objects.len(), truth.objects.len());
        for (k, (g, t)) in gt.objects.iter().zip(&truth.objects).enumerate() {
            assert_eq!((g.track_id, g.class_id, g.label.as_str()), (t.track_id, t.class_id, t.label));
            assert_eq!(g.visible_fraction, t.visible_fraction);
            assert_eq!(g.mask, truth.mask(k));
            assert_eq!(g.bbox, t.bbox.unwrap_or_default());
        }
    }
}

/// Where the truth says an object is, the pixels look unlike the background.
#[test]
fn masks_mark_object_pixels() {
    let mut checked = 0;
    for (data, gt, _) in pull(&mut source(4, "normal", Some(RGB_64)), 10) {
        let covered: Vec<bool> = (0..64 * 48).map(|i| gt.objects.iter().any(|o| o.mask.data[i] != 0)).collect();
        let mean = |sel: &dyn Fn(usize) -> bool| {
            let (mut s, mut n) = ([0f64; 3], 0.0);
            for i in (0..64 * 48).filter(|&i| sel(i)) {
                (0..3).for_each(|c| s[c] += data[i * 3 + c] as f64);
                n += 1.0;
            }
            s.map(|v| v / n)
        };
        let bg = mean(&|i| !covered[i]);
        for o in gt.objects.iter().filter(|o| o.mask.area() >= 40) {
            let m = mean(&|i| o.mask.data[i] != 0);
            let d = ((0..3).map(|c| (m[c] - bg[c]).powi(2)).sum::<f64>()).sqrt();
            assert!(d > 25.0, "object {} is only {d:.1} from the background", o.track_id);
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} objects checked");
}

#[test]
fn negotiates_size_format_and_rate_from_caps() {
    let mut h = source(1, "normal", Some("video/x-raw,format=RGBA,width=160,height=120,framerate=15/1"));
    let frames = pull(&mut h, 4);
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (160, 120));
    assert_eq!(s.get::<&str>("format").unwrap(), "RGBA");
    for (k, (data, gt, b)) in frames.iter().enumerate() {
        assert_eq!(data.len(), 160 * 120 * 4);
        assert!(data.chunks_exact(4).all(|p| p[3] == 255));
        assert_eq!((gt.width, gt.height), (160, 120));
        assert_eq!(b.pts(), Some(gst::ClockTime::from_nseconds(k as u64 * 1_000_000_000 / 15)));
        assert_eq!(b.offset(), k as u64);
    }

    // BGRx at another size: the same world, channels swapped.
    let bgrx = pull(&mut source(1, "normal", Some("video/x-raw,format=BGRx,width=64,height=48,framerate=30/1")), 2);
    let rgb = pull(&mut source(1, "normal", Some(RGB_64)), 2);
    for ((x, _, _), (r, _, _)) in bgrx.iter().zip(&rgb) {
        assert_eq!(x.len(), 64 * 48 * 4);
        for (p, q) in x.chunks_exact(4).zip(r.chunks_exact(3)) {
            assert_eq!([p[2], p[1], p[0]], [q[0], q[1], q[2]]);
        }
    }
}

#[test]
fn fixates_to_320x240_at_30fps_by_default() {
    let mut h = source(0, "normal", None);
    let (data, gt, b) = pull(&mut h, 2).pop().unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (320, 240));
    assert_eq!(s.get::<gst::Fraction>("framerate").unwrap(), gst::Fraction::new(30, 1));
    assert_eq!(data.len(), 320 * 240 * 3);
    assert_eq!((gt.width, gt.height), (320, 240));
    assert_eq!(b.duration(), Some(gst::ClockTime::from_nseconds(33_333_333)));
}

#[test]
fn num_buffers_ends_with_eos_and_num_objects_is_applied() {
    init();
    let mut h = gst_check::Harness::new("segtestsrc");
    let e = h.element().unwrap();
    e.set_property("num-buffers", 3i32);
    e.set_property("num-objects", 12u32);
    h.set_sink_caps_str(RGB_64);
    h.play();
    for _ in 0..3 {
        let b = h.pull().expect("buffer before EOS");
        assert_eq!(read_ground_truth(&b).unwrap().unwrap().objects.len(), 12);
    }
    loop {
        match h.pull_event() {
            Ok(ev) if ev.type_() == gst::EventType::Eos => break,
            Ok(_) => continue,
            Err(e) => panic!("no EOS after num-buffers: {e}"),
        }
    }
    assert_eq!(h.buffers_in_queue(), 0);
}

#[test]
fn buffers_without_truth_read_as_none_and_bad_truth_names_the_field() {
    init();
    let plain = gst::Buffer::with_size(8).unwrap();
    assert!(read_ground_truth(&plain).is_none());
    let mut h = source(2, "normal", Some(RGB_64));
    let mut b = h.pull().unwrap();
    {
        let b = b.make_mut();
        let mut meta = gst::meta::CustomMeta::from_mut_buffer(b, "SegstreamGroundTruthMeta").unwrap();
        meta.mut_structure().set("width", "wide");
    }
    let err = read_ground_truth(&b).unwrap().unwrap_err();
    assert!(err.contains("width"), "{err}");
}

/// Downstream asks for another size mid-stream: the source renegotiates, the world is
/// rebuilt at the new size, and frame numbers and timestamps carry on.
#[test]
fn renegotiation_keeps_frame_numbers_and_timestamps_running() {
    let mut h = source(6, "normal", Some(RGB_64));
    let before = pull(&mut h, 3);
    h.set_sink_caps_str("video/x-raw,format=RGB,width=96,height=72,framerate=30/1");
    assert!(h.push_upstream_event(gst::event::Reconfigure::new()));
    let mut last = before.last().unwrap().1.frame;
    let mut resized = false;
    // A buffer or two of the old size may already be on their way (blocking push mode
    // bounds that): read until the new size arrives, checking continuity on every buffer.
    for _ in 0..8 {
        let (data, gt, b) = pull(&mut h, 1).pop().unwrap();
        assert_eq!(gt.frame, last + 1, "frame numbers must continue");
        assert_eq!(b.pts(), Some(gst::ClockTime::from_nseconds(gt.frame * 1_000_000_000 / 30)));
        last = gt.frame;
        if data.len() == 96 * 72 * 3 {
            resized = true;
            assert_eq!((gt.width, gt.height), (96, 72));
            break;
        }
    }
    assert!(resized, "the new size never arrived");
}
