//! `segment` in a gst_check::Harness: meta and frame numbers, flushes, new streams, caps
//! changes across sizes and formats, commands, load errors.
mod segment_support;

use gst::prelude::*;
use gst_video::VideoFormat;
use gstsegstream::meta;
use segment_support::*;

fn pull_meta(h: &mut gst_check::Harness) -> segstream::segmenter::FrameResult {
    let out = h.pull().expect("a buffer comes out");
    meta::read(&out).expect("segment attaches a meta").expect("the meta parses")
}

#[test]
fn meta_carries_consecutive_frame_numbers_and_pixels_pass_unchanged() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, 64, 48), &[]);
    for i in 0..4u64 {
        let input = frame(VideoFormat::Rgb, 64, 48, i as u8);
        let expected = input.map_readable().unwrap().to_vec();
        h.push(input).unwrap();
        let out = h.pull().unwrap();
        let r = meta::read(&out).unwrap().unwrap();
        assert_eq!((r.frame, r.width, r.height, r.model.as_str()), (i, 64, 48, "tiny"));
        assert_eq!(out.map_readable().unwrap().as_slice(), expected.as_slice(), "frame {i} pixels changed");
    }
}

#[test]
fn flush_stop_and_stream_start_restart_the_frame_counter() {
    let mut h = segment_harness(&caps(VideoFormat::I420, 64, 48), &[]);
    for _ in 0..3 {
        h.push(frame(VideoFormat::I420, 64, 48, 1)).unwrap();
    }
    let frames: Vec<u64> = (0..3).map(|_| pull_meta(&mut h).frame).collect();
    assert_eq!(frames, [0, 1, 2]);

    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    h.push(frame(VideoFormat::I420, 64, 48, 2)).unwrap();
    h.push(frame(VideoFormat::I420, 64, 48, 3)).unwrap();
    assert_eq!(pull_meta(&mut h).frame, 0, "after flush-stop");
    assert_eq!(pull_meta(&mut h).frame, 1);

    h.push_event(gst::event::StreamStart::new("second-stream"));
    h.push_event(gst::event::Caps::new(&caps(VideoFormat::I420, 64, 48)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    h.push(frame(VideoFormat::I420, 64, 48, 4)).unwrap();
    assert_eq!(pull_meta(&mut h).frame, 0, "after stream-start");
}

#[test]
fn caps_changes_between_sizes_and_formats() {
    let steps = [
        (VideoFormat::Rgb, 64, 48),
        (VideoFormat::I420, 96, 64),
        (VideoFormat::Nv12, 50, 30),
        (VideoFormat::Bgrx, 33, 17),
        (VideoFormat::Rgba, 128, 72),
        (VideoFormat::I420, 31, 17),
        (VideoFormat::Nv12, 17, 9),
    ];
    let mut h = segment_harness(&caps(steps[0].0, steps[0].1, steps[0].2), &[]);
    for (i, (fmt, w, hgt)) in steps.into_iter().enumerate() {
        h.set_src_caps(caps(fmt, w, hgt));
        h.push(frame(fmt, w, hgt, i as u8)).unwrap();
        let r = pull_meta(&mut h);
        assert_eq!((r.frame, r.width, r.height), (i as u64, w as usize, hgt as usize), "{fmt:?} {w}x{hgt}");
        for o in &r.objects {
            assert_eq!((o.mask.width, o.mask.height), (w as usize, hgt as usize), "mask at frame size");
        }
    }
}

#[test]
fn eos_passes_through() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, 32, 32), &[]);
    h.push(frame(VideoFormat::Rgb, 32, 32, 0)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(pull_meta(&mut h).frame, 0);
    let mut saw_eos = false;
    while h.events_in_queue() > 0 {
        saw_eos |= h.pull_event().unwrap().type_() == gst::EventType::Eos;
    }
    assert!(saw_eos, "EOS forwarded downstream");
}

#[test]
fn add_box_command_creates_a_target_and_bad_commands_warn() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, 160, 120), &[("detect-interval", "0")]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let cmd = gst::Structure::builder("segstream-command")
        .field("action", "add-box")
        .field("x", 40.0f32)
        .field("y", 30.0f32)
        .field("w", 60.0f32)
        .field("h", 50.0f32)
        .build();
    assert!(h.push_upstream_event(gst::event::CustomUpstream::new(cmd)));
    let bad = gst::Structure::builder("segstream-command").field("action", "explode").build();
    assert!(!h.push_upstream_event(gst::event::CustomUpstream::new(bad)));
    h.push(frame(VideoFormat::Rgb, 160, 120, 9)).unwrap();
    let r = pull_meta(&mut h);
    let mut added = None;
    let mut warning = None;
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "segstream-target-added") => {
                added = e.structure().unwrap().get::<u64>("track-id").ok();
            }
            gst::MessageView::Warning(w) => warning = Some(format!("{} {:?}", w.error(), w.debug())),
            _ => (),
        }
    }
    let id = added.expect("segment posts segstream-target-added");
    let warning = warning.expect("a warning for the bad command");
    assert!(warning.contains("unknown action 'explode'"), "{warning}");
    // With detection off, only the user's target can appear in the meta.
    assert!(r.objects.iter().all(|o| o.track_id == id), "{:?}", r.objects.iter().map(|o| o.track_id).collect::<Vec<_>>());

    let remove = gst::Structure::builder("segstream-command").field("action", "remove").field("id", id).build();
    assert!(h.push_upstream_event(gst::event::CustomUpstream::new(remove)));
    h.push(frame(VideoFormat::Rgb, 160, 120, 10)).unwrap();
    let r = pull_meta(&mut h);
    assert!(r.objects.is_empty(), "target {id} removed, detection off: nothing left");
}

#[test]
fn mask_size_property_sets_the_mask_resolution() {
    let mut h =
        segment_harness(&caps(VideoFormat::Rgb, 160, 120), &[("detect-interval", "0"), ("mask-width", "40"), ("mask-height", "30")]);
    // A box around a real world object, so the trained model has something to segment.
    let frames = world_frames(1_000_003, 160, 120, 3);
    let b = frames[0].1;
    let cmd = gst::Structure::builder("segstream-command")
        .field("action", "add-box")
        .field("x", b.x - 2.0)
        .field("y", b.y - 2.0)
        .field("w", b.w + 4.0)
        .field("h", b.h + 4.0)
        .build();
    assert!(h.push_upstream_event(gst::event::CustomUpstream::new(cmd)));
    let mut masks = Vec::new();
    for (buf, _) in frames {
        h.push(buf).unwrap();
        masks.extend(pull_meta(&mut h).objects.into_iter().map(|o| (o.mask.width, o.mask.height)));
    }
    assert!(!masks.is_empty(), "the user's target has a mask");
    assert!(masks.iter().all(|&s| s == (40, 30)), "{masks:?}");
}

/// Runs `desc` to the first error; returns the error text (message + debug).
fn first_error(desc: &str) -> String {
    init();
    let pipeline = gst::parse::launch(desc).unwrap();
    let bus = pipeline.bus().unwrap();
    let started = pipeline.set_state(gst::State::Playing);
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Error, gst::MessageType::Eos])
        .expect("an error within 20 s");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(started.is_err(), "the state change fails");
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        _ => panic!("expected an error, got {msg:?}"),
    }
}

#[test]
fn missing_model_dir_fails_the_state_change_naming_it() {
    let err = first_error("videotestsrc num-buffers=1 ! segment model=/no/such/bundle ! fakesink");
    assert!(err.contains("/no/such/bundle"), "{err}");
    assert!(err.contains("cannot load the model"), "{err}");
}

#[test]
fn unknown_provider_is_an_error_not_a_fallback() {
    let err = first_error("videotestsrc num-buffers=1 ! segment provider=quantum ! fakesink");
    assert!(err.contains("unknown provider `quantum` (expected cpu, cuda, tensorrt or tensorrt-native)"), "{err}");
}

/// The native TensorRT backend is a real choice: without the shim (no GPU machine here)
/// the error says what to build instead of "unknown provider".
#[test]
fn tensorrt_native_without_the_shim_names_what_to_build() {
    let err = first_error("videotestsrc num-buffers=1 ! segment provider=tensorrt-native ! fakesink");
    assert!(err.contains("segtrt shim") && err.contains("build-shim.sh"), "{err}");
}

#[test]
fn bundle_without_onnx_files_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(bundle().join("bundle.toml"), dir.path().join("bundle.toml")).unwrap();
    let err = first_error(&format!("videotestsrc num-buffers=1 ! segment model={} ! fakesink", dir.path().display()));
    assert!(err.contains(".onnx") || err.contains("vocabulary"), "{err}");
}

#[test]
fn downstream_command_events_reach_the_tracker() {
    let mut h = segment_harness(&caps(VideoFormat::Rgb, 64, 48), &[]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let remove = gst::Structure::builder("segstream-command").field("action", "remove").field("id", 99u64).build();
    assert!(h.push_event(gst::event::CustomDownstream::new(remove)));
    h.push(frame(VideoFormat::Rgb, 64, 48, 0)).unwrap();
    assert_eq!(pull_meta(&mut h).frame, 0);
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("removing an unknown id warns");
    assert!(warning.contains("remove_target: unknown track id 99"), "{warning}");
}
