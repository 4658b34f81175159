//! Real videos through the product: `segstream run` on real clips (an H.264 MP4 out, one
//! MQTT message per frame) and a gst-launch-style `uridecodebin ! videoconvert ! segment !
//! segmqttsink` pipeline, against a real mosquitto. Nothing may print a GLib critical or a
//! codec error; the output must decode again with the same number of frames.
mod media_support;
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use gst::prelude::*;
use media_support::*;
use mqtt_support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn model() -> String {
    repo_root().join("engines/tiny").display().to_string()
}

/// The frame messages' `frame`, `width`, `height` and `pts`, in arrival order.
fn parse_frames(lines: &[String]) -> Vec<(u64, u64, u64, u64)> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {l}"));
            (n("frame"), n("width"), n("height"), n("pts"))
        })
        .collect()
}

/// Every frame 0..n arrived once, at the clip's size, with increasing timestamps.
fn check_messages(lines: &[String], n: u64, size: (u64, u64)) {
    let got = parse_frames(lines);
    assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "frame numbers");
    assert!(got.iter().all(|f| (f.1, f.2) == size), "frame size is not {size:?}: {:?}", &got[..1]);
    assert!(got.windows(2).all(|w| w[1].3 > w[0].3), "pts not increasing: {:?}", got.iter().map(|f| f.3).collect::<Vec<_>>());
}

/// `segstream run <clip> --output out.mp4 --max-frames n --mqtt ...`: exit 0, a clean
/// stderr, an MP4 that decodes to `n` frames of the clip's size, `n` MQTT messages.
fn cli_run_clip(clip: &Path, n: u64, size: (u64, u64)) {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let sub = Sub::start(&broker, "real/frames", "sub-real-cli", &[]);
    let out = tmp.path().join("out.mp4");
    let o = output_within(
        Command::new(env!("CARGO_BIN_EXE_segstream"))
            .args(["run", clip.to_str().unwrap(), "--output", out.to_str().unwrap(), "--max-frames", &n.to_string(), "-q"])
            .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--topic", "real/frames"])
            .env_remove("GST_PLUGIN_PATH")
            .env("XDG_CACHE_HOME", tmp.path()),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(trouble_lines(&stderr), Vec::<String>::new(), "full stderr:\n{stderr}");
    assert!(stderr.contains(&format!("done: {n} frames")), "{stderr}");
    let d = decode(&out);
    assert_eq!(d.error, None, "{} does not decode", out.display());
    assert_eq!((d.frames, d.width as u64, d.height as u64), (n, size.0, size.1), "decoded output");
    check_messages(&sub.wait_for(n as usize, Duration::from_secs(20)), n, size);
}

#[test]
fn cli_run_on_vtest_avi_writes_a_playable_mp4_and_every_frame_to_mqtt() {
    cli_run_clip(&vtest_avi(), 24, (768, 576));
}

#[test]
fn cli_run_on_an_h264_720p_clip_writes_a_playable_mp4_and_every_frame_to_mqtt() {
    let Some(clip) = shared_clip("01_dog.mp4") else { return };
    cli_run_clip(&clip, 30, (1280, 720));
}

/// GLib criticals and warnings logged in this process (GStreamer's and GObject's).
fn capture_glib_trouble() -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let levels = gst::glib::LogLevels::LEVEL_CRITICAL | gst::glib::LogLevels::LEVEL_WARNING;
    for domain in ["GStreamer", "GLib-GObject", "GLib"] {
        let s = seen.clone();
        gst::glib::log_set_handler(Some(domain), levels, false, false, move |d, level, msg| {
            s.lock().unwrap().push(format!("{d:?} {level:?}: {msg}"));
        });
    }
    seen
}

/// The documented gst-launch form, built with `gst::parse::launch` (`identity eos-after`
/// only bounds the test's length).
fn launch_clip(clip: &Path, n: u64, size: (u64, u64), tag: &str) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstsegstream::plugin_register_static().unwrap();
    });
    let trouble = capture_glib_trouble();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let topic = format!("launch/{tag}");
    let sub = Sub::start(&broker, &topic, &format!("sub-{tag}"), &[]);
    let desc = format!(
        "uridecodebin uri={} ! videoconvert ! identity eos-after={n} ! segment name=seg model={} ! \
         segmqttsink host=127.0.0.1 port={} topic={topic} client-id={} spool-dir={}",
        file_uri(clip),
        model(),
        broker.port,
        unique_client_id(tag),
        tmp.path().join("spool").display()
    );
    let pipe = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    // identity lets a few more than `eos-after` frames through when the decoder drains
    // its threads: the frames segment actually produced are counted here.
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seg = pipe.by_name("seg").unwrap();
    let p = produced.clone();
    seg.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        gst::PadProbeReturn::Ok
    });
    pipe.set_state(gst::State::Playing).unwrap();
    let bus = pipe.bus().unwrap();
    let mut problems = Vec::new();
    for m in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("pipeline error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Warning(w) => problems.push(format!("warning: {} ({:?})", w.error(), w.debug())),
            _ => (),
        }
    }
    pipe.set_state(gst::State::Null).unwrap();
    assert_eq!(problems, Vec::<String>::new());
    let produced = produced.load(std::sync::atomic::Ordering::SeqCst);
    assert!(produced >= n, "{produced} frames");
    check_messages(&sub.wait_for(produced as usize, Duration::from_secs(20)), produced, size);
    assert_eq!(*trouble.lock().unwrap(), Vec::<String>::new(), "GLib criticals/warnings");
}

#[test]
fn launch_pipeline_on_vtest_avi_publishes_every_frame() {
    launch_clip(&vtest_avi(), 20, (768, 576), "vtest");
}

#[test]
fn launch_pipeline_on_an_h264_720p_clip_publishes_every_frame() {
    let Some(clip) = shared_clip("03_blocks.mp4") else { return };
    launch_clip(&clip, 20, (1280, 720), "blocks");
}
