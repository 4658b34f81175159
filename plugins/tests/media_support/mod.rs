//! Test support: real video clips and what a decoder makes of a file.
//!
//! - `vtest.avi` (768x576 MS-MPEG4v3, Debian `opencv-doc`): `deploy/install-deps.sh` puts it
//!   in `$SEGSTREAM_MEDIA_DIR` (default `~/.cache/segstream/media`); a test that needs it
//!   fails with that instruction when it is missing, since every machine can install it.
//! - The 1280x720 H.264 clips in `../shared/media/` (next to the repository): present on the
//!   project's machines only, so tests that use them skip with a printed reason without them.
#![allow(dead_code)]
use gst::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to completion, killing it after `limit` (a hung pipeline fails the test
/// instead of hanging the suite).
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        pipes.0.read_to_end(&mut b).unwrap();
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        pipes.1.read_to_end(&mut b).unwrap();
        b
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}: killed; stderr:\n{}", String::from_utf8_lossy(&err.join().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Where install-deps.sh put vtest.avi; panics with the fix when it is not there.
pub fn vtest_avi() -> PathBuf {
    let dir = match std::env::var_os("SEGSTREAM_MEDIA_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
            cache.join("segstream/media")
        }
    };
    let path = dir.join("vtest.avi");
    assert!(path.is_file(), "{} is missing: run deploy/install-deps.sh (it extracts vtest.avi from Debian's opencv-doc)", path.display());
    path
}

/// A clip of `../shared/media` (or `$SEGSTREAM_SHARED_MEDIA`), or `None` after printing why
/// the calling test skips.
pub fn shared_clip(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SEGSTREAM_SHARED_MEDIA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/media"));
    let path = dir.join(name);
    if path.is_file() {
        return Some(path);
    }
    // Written to stderr directly, not with eprintln!: libtest captures the print macros, so
    // the skip would be invisible in `cargo test` / `make test` logs.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {} not found (the shared test media lives next to the repository, not in it)",
        path.display()
    );
    None
}

pub fn file_uri(path: &Path) -> String {
    gst::glib::filename_to_uri(path.canonicalize().unwrap(), None).unwrap().to_string()
}

/// What a fresh decode of a video file gives: frame count, size, and the first error.
#[derive(Debug, Default)]
pub struct Decoded {
    pub frames: u64,
    pub width: i32,
    pub height: i32,
    pub error: Option<String>,
}

/// Decodes `path` with `decodebin` to raw video and counts the frames: the output "plays".
pub fn decode(path: &Path) -> Decoded {
    gst::init().unwrap();
    let desc = "filesrc name=src ! decodebin ! videoconvert ! appsink name=out sync=false";
    let pipe = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    pipe.by_name("src").unwrap().set_property("location", path.to_str().unwrap());
    let sink = pipe.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let mut d = Decoded::default();
    if pipe.set_state(gst::State::Playing).is_err() {
        d.error = Some("cannot start the decoder".into());
    }
    // A bounded wait per frame: after a decoder error the appsink never sees EOS.
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        if d.frames == 0 {
            let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
            d.width = caps.get("width").unwrap();
            d.height = caps.get("height").unwrap();
        }
        d.frames += 1;
    }
    if !sink.is_eos() {
        d.error.get_or_insert_with(|| "no end of stream".into());
    }
    let bus = pipe.bus().unwrap();
    while let Some(m) = bus.pop() {
        if let gst::MessageView::Error(e) = m.view() {
            d.error.get_or_insert_with(|| format!("{}: {:?}", e.error(), e.debug()));
        }
    }
    pipe.set_state(gst::State::Null).unwrap();
    d
}

/// Lines of a process's stderr that show something went wrong in GStreamer or a codec
/// (GLib criticals/warnings, codec library errors), which a run must not print.
pub fn trouble_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("CRITICAL") || l.contains("-WARNING **") || l.contains("[OpenH264]") || l.contains("ERROR"))
        .map(String::from)
        .collect()
}
