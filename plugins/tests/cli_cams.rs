//! `segstream run cams.toml`: several cameras in one process, on real files, a real
//! mosquitto on a free loopback port and the real /metrics and /healthz; a failing camera
//! (missing file, undecodable file) stops alone.
mod http_support;
mod media_support;
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use http_support::get;
use media_support::*;
use mqtt_support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn segstream(args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segstream"));
    c.args(args).current_dir(dir).env_remove("GST_PLUGIN_PATH").env("XDG_CACHE_HOME", dir); // spools stay in the test's directory
    c
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A 160x120 MJPEG AVI of `frames` frames made by GStreamer (another codec and size than vtest.avi).
fn small_video(dir: &Path, name: &str, frames: u32) -> PathBuf {
    let path = dir.join(name);
    let st = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", &format!("num-buffers={frames}"), "pattern=ball", "!", "video/x-raw,width=160,height=120"])
        .args(["!", "jpegenc", "!", "avimux", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .unwrap();
    assert!(st.success());
    path
}

/// Frame messages per stream id, in arrival order, from `mosquitto_sub -v` lines.
fn frames_by_stream(sub: &Sub) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut by = BTreeMap::<String, Vec<(String, u64)>>::new();
    for line in sub.lines.lock().unwrap().iter() {
        let (topic, payload) = line.split_once(' ').unwrap();
        let v: Value = serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let stream = v["stream"].as_str().unwrap_or_else(|| panic!("no stream: {line}")).to_string();
        by.entry(stream).or_default().push((topic.to_string(), v["frame"].as_u64().unwrap()));
    }
    by
}

/// `segstream run cams.toml -q --metrics` in `dir` on a free port: (port, the process, a
/// thread collecting its stderr).
fn run_with_metrics(dir: &Path) -> (u16, std::process::Child, std::thread::JoinHandle<String>) {
    let port = free_port();
    let mut child = segstream(&["run", "cams.toml", "-q", "--metrics", &format!("127.0.0.1:{port}")], dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    (port, child, err)
}

/// Waits until `n` messages arrived (or 30 s passed).
fn wait_messages(sub: &Sub, n: usize) {
    let got = sub.wait_for(n, Duration::from_secs(30)).len();
    assert!(got >= n, "{got} of {n} messages arrived");
}

#[test]
fn two_file_cameras_publish_every_frame_under_their_own_stream_id() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    small_video(tmp.path(), "small.avi", 10);
    let cfg = format!(
        "mqtt = \"127.0.0.1:{}\"\n\
         [[camera]]\nid = \"left\"\ninput = \"{}\"\nmax_frames = 12\ndetect_interval = 2\n\
         [[camera]]\nid = \"right-2\"\ninput = \"small.avi\"\ntopic = \"site/right/frames\"\nscore_threshold = 0.5\n",
        broker.port,
        vtest_avi().display()
    );
    std::fs::write(tmp.path().join("cams.toml"), cfg).unwrap();
    let sub = Sub::start(&broker, "segstream/+/frames", &unique_client_id("cams"), &["-t", "site/right/frames", "-v"]);
    let elsewhere = tempfile::tempdir().unwrap(); // paths are relative to the config file
    let o = output_within(
        &mut segstream(
            &["run", tmp.path().join("cams.toml").to_str().unwrap(), "-q", "--log-level", "warn,segstream::runtime::ort::shared=debug"],
            elsewhere.path(),
        ),
        Duration::from_secs(180),
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("done: left: 12 frames") && err.contains("done: right-2: 10 frames"), "{err}");
    // Same bundle, same threads: the second camera uses the model the first one loaded.
    assert_eq!(err.matches("sharing the loaded CPU engine").count(), 1, "{err}");
    wait_messages(&sub, 22);
    let by = frames_by_stream(&sub);
    assert_eq!(by.keys().collect::<Vec<_>>(), ["left", "right-2"]);
    let expect = |topic: &str, n: u64| (0..n).map(|f| (topic.to_string(), f)).collect::<Vec<_>>();
    assert_eq!(by["left"], expect("segstream/left/frames", 12));
    assert_eq!(by["right-2"], expect("site/right/frames", 10));
}

/// The value of `metric{camera="cam"}` in an OpenMetrics text.
fn sample(text: &str, metric: &str, cam: &str) -> Option<f64> {
    let prefix = format!("{metric}{{camera=\"{cam}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok())
}

#[test]
fn a_failing_camera_stops_alone_and_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    std::fs::write(tmp.path().join("garbage.avi"), "not a video\n".repeat(100)).unwrap();
    let n = 30;
    let cfg = format!(
        "mqtt = \"127.0.0.1:{}\"\nhealth_timeout = 30\n\
         [[camera]]\nid = \"missing\"\ninput = \"no-such-file.mp4\"\n\
         [[camera]]\nid = \"good\"\ninput = \"{}\"\nmax_frames = {n}\n\
         [[camera]]\nid = \"garbage\"\ninput = \"garbage.avi\"\n",
        broker.port,
        vtest_avi().display()
    );
    std::fs::write(tmp.path().join("cams.toml"), cfg).unwrap();
    let sub = Sub::start(&broker, "segstream/+/frames", &unique_client_id("cams"), &["-v"]);
    let (port, mut child, err) = run_with_metrics(tmp.path());
    let (mut scrapes, mut health) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(180), "run did not finish");
        if let Some((200, body)) = get(port, "/metrics") {
            scrapes.push(body);
        }
        if let Some(h) = get(port, "/healthz") {
            health.push(h);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(3), "some cameras failed, the others ended: {err}");
    assert!(err.contains(&format!("done: good: {n} frames")), "{err}");
    assert!(err.contains("failed: missing: input file no-such-file.mp4 not found"), "{err}");
    // decodebin0 or decodebin1: element names count across the process's pipelines.
    assert!(err.contains("failed: garbage: decodebin") && err.contains("This appears to be a text file"), "{err}");
    assert!(err.contains("segstream: error: 2 of 3 cameras failed (missing, garbage); the others ran to their end"), "{err}");

    // The good camera delivered every frame, the failed ones nothing.
    wait_messages(&sub, n);
    let by = frames_by_stream(&sub);
    assert_eq!(by.keys().collect::<Vec<_>>(), ["good"]);
    assert_eq!(by["good"].iter().map(|(_, f)| *f).collect::<Vec<_>>(), (0..n as u64).collect::<Vec<_>>());

    // /metrics: the failures are labelled per camera while the good one counts frames.
    let during: Vec<&String> = scrapes.iter().filter(|s| sample(s, "segstream_camera_failed", "garbage") == Some(1.0)).collect();
    let seen = during.iter().find(|s| sample(s, "segstream_frames_total", "good").is_some_and(|f| f > 0.0));
    let s = seen.unwrap_or_else(|| panic!("no scrape with garbage failed and good counting, of {}", scrapes.len()));
    assert_eq!(sample(s, "segstream_camera_failed", "missing"), Some(1.0));
    assert_eq!(sample(s, "segstream_camera_failed", "good"), Some(0.0));
    assert_eq!(sample(s, "segstream_frames_total", "missing"), Some(0.0));
    for s in &scrapes {
        assert_eq!(sample(s, "segstream_camera_failed", "missing"), Some(1.0), "failed from the first scrape on");
    }
    let parsed =
        Command::new("python3").arg(repo_root().join("tests/consumers/parse_metrics.py")).arg(write(tmp.path(), s)).output().unwrap();
    assert!(parsed.status.success(), "prometheus_client rejected the scrape: {}", String::from_utf8_lossy(&parsed.stderr));

    // /healthz: 503 while a camera is failed, with one line per camera naming the cause.
    assert!(!health.is_empty(), "no /healthz answer during the run");
    for (st, body) in &health {
        assert_eq!(*st, 503, "{body}");
        assert!(body.contains("missing: failed: input file no-such-file.mp4 not found"), "{body}");
    }
    let flowing = health.iter().find(|(_, b)| {
        b.contains("good: flowing: last frame") && b.contains("garbage: failed: decodebin") && b.contains("This appears to be a text file")
    });
    assert!(flowing.is_some(), "no /healthz with good flowing and garbage failed: {health:?}");
}

/// A network camera that cannot be reached is retried (not failed) while a file camera
/// runs to its end; /healthz shows both; Ctrl-C ends the run (exit 0) although the
/// network camera never delivered a frame.
#[test]
fn an_unreachable_network_camera_is_retried_while_the_others_run() {
    let tmp = tempfile::tempdir().unwrap();
    small_video(tmp.path(), "small.avi", 10);
    let closed = free_port(); // nothing listens there
    let cfg = format!(
        "[[camera]]\nid = \"file\"\ninput = \"small.avi\"\n[[camera]]\nid = \"net\"\ninput = \"rtsp://127.0.0.1:{closed}/stream\"\n"
    );
    std::fs::write(tmp.path().join("cams.toml"), cfg).unwrap();
    let (port, mut child, err) = run_with_metrics(tmp.path());
    let t0 = Instant::now();
    let expect = "file: ended: end of stream\nnet: not flowing: no frame yet\n";
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the run ended while the network camera was retried");
        assert!(t0.elapsed() < Duration::from_secs(120), "/healthz never showed {expect:?}");
        if let Some((503, body)) = get(port, "/healthz") {
            if body == expect {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = get(port, "/metrics").unwrap().1;
    assert_eq!(sample(&metrics, "segstream_frames_total", "file"), Some(10.0));
    assert_eq!(sample(&metrics, "segstream_camera_failed", "net"), Some(0.0), "retried, not failed");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("source rtsp://127.0.0.1:{closed}/stream lost")), "{err}");
    assert!(err.contains("done: file: 10 frames") && err.contains("done: net: 0 frames"), "{err}");
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let f = dir.join("scrape.txt");
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn every_camera_failing_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = "[[camera]]\nid = \"a\"\ninput = \"a.mp4\"\n[[camera]]\nid = \"b\"\ninput = \"b.mp4\"\n";
    std::fs::write(tmp.path().join("cams.toml"), cfg).unwrap();
    let o = output_within(&mut segstream(&["run", "cams.toml", "-q"], tmp.path()), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("segstream: error: every camera failed (a, b)"), "{}", both(&o));
}

/// A malformed cameras file, or an option that names one camera, is a usage error (exit
/// status 2, as the option parser's) naming the key, never a panic.
#[test]
fn malformed_cameras_files_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[camera]]\nid = \"a\"\ninput = \"a.mp4\"\n[[camera]]\nid = \"a\"\ninput = \"b.mp4\"\n",
            "camera[1] (a): id \"a\" is also camera[0] (a)'s",
        ),
        ("[[camera]]\nid = \"a b\"\ninput = \"a.mp4\"\n", "camera[0].id: \"a b\": ids are 1 to 64 characters"),
        ("[[camera]]\nid = \"a\"\ninput = \"a.mp4\"\nfps = 3\n", "unknown field `fps`"),
        ("camera = []\n", "camera: no camera"),
        ("camera = 3\n", "invalid type: integer `3`, expected a sequence"),
    ];
    for (text, expect) in cases {
        std::fs::write(tmp.path().join("bad.toml"), text).unwrap();
        let o = output_within(&mut segstream(&["run", "bad.toml"], tmp.path()), Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(2), "{text}: {}", both(&o));
        assert!(both(&o).contains("segstream: error: config bad.toml: ") && both(&o).contains(expect), "{text}: {}", both(&o));
    }
    std::fs::write(tmp.path().join("ok.toml"), "[[camera]]\nid = \"a\"\ninput = \"a.mp4\"\n").unwrap();
    let o = output_within(&mut segstream(&["run", "ok.toml", "--stream-id", "x"], tmp.path()), Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(both(&o).contains("--stream-id (each [[camera]] has its own id) does not apply to a cameras file"), "{}", both(&o));

    let help = output_within(&mut segstream(&["run", "--help"], tmp.path()), Duration::from_secs(30));
    assert!(both(&help).contains("CAMERAS FILE") && both(&help).contains("[[camera]]"), "{}", both(&help));
}
