//! `segstream run` on real files, configs and a real mosquitto broker.
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use mqtt_support::Broker;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn segstream(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(args)
        .current_dir(cwd)
        .env_remove("GST_PLUGIN_PATH")
        .env("XDG_CACHE_HOME", cwd) // segmqttsink's spool stays in the test's directory
        .output()
        .unwrap()
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// An 8-frame MJPEG AVI made by GStreamer (jpegenc/avimux: plugins-good).
fn test_video(dir: &Path, frames: u32) -> PathBuf {
    let path = dir.join("input.avi");
    let st = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            &format!("num-buffers={frames}"),
            "pattern=ball",
            "!",
            "video/x-raw,width=160,height=120",
            "!",
            "jpegenc",
            "!",
            "avimux",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", path.display()))
        .status()
        .unwrap();
    assert!(st.success());
    path
}

fn count_pngs(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count()
}

#[test]
fn run_file_to_png_frames_with_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 8);
    let out = tmp.path().join("annotated");
    let o = segstream(&["run", video.to_str().unwrap(), "--output", out.to_str().unwrap(), "--detect-interval", "2"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(count_pngs(&out), 8);
    assert!(both(&o).contains("done: 8 frames"), "{}", both(&o));
}

#[test]
fn run_prints_a_progress_line() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 40);
    let o = segstream(&["run", video.to_str().unwrap(), "--output", "none"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // Not a terminal: one line per second, "frames N  fps X  objects M".
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with("frames ")).collect();
    assert!(!progress.is_empty(), "no progress line in:\n{err}");
    for line in progress {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((f[0], f[2], f[4]), ("frames", "fps", "objects"), "{line}");
        assert!(f[1].parse::<u64>().unwrap() <= 40 && f[3].parse::<f64>().is_ok() && f[5].parse::<usize>().is_ok(), "{line}");
    }
    assert!(err.contains("done: 40 frames"), "{err}");
    assert!(err.contains(" objects in total, 0 late frames dropped"), "a file is not live: {err}");
}

#[test]
fn ctrl_c_finishes_the_mp4_instead_of_killing_it() {
    // 3000 frames take minutes: the run is interrupted long before the end. Without an
    // EOS, mp4mux never writes its `moov` index and the file is unplayable.
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 3000);
    let out = tmp.path().join("out.mp4");
    let mut child = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["run", video.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .current_dir(tmp.path())
        .env_remove("GST_PLUGIN_PATH")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the progress line shows processed frames.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.starts_with("frames ") && !l.starts_with("frames 0 "));
    assert!(started, "no progress before the end of stderr");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.starts_with("interrupted: finishing")), "{rest:?}");
    let done = rest.iter().find_map(|l| l.strip_prefix("done: ")).unwrap_or_else(|| panic!("{rest:?}"));
    let frames: u64 = done.split_whitespace().next().unwrap().parse().unwrap();
    assert!(frames > 0 && frames < 3000, "{done}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.windows(4).any(|w| w == b"moov"), "mp4 has no index: not finalised");
}

#[test]
fn run_stops_after_max_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 20);
    let out = tmp.path().join("first");
    let o = segstream(&["run", video.to_str().unwrap(), "-o", out.to_str().unwrap(), "--max-frames", "5", "-q"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(count_pngs(&out), 5);
}

#[test]
fn run_from_a_config_file_with_relative_paths() {
    let tmp = tempfile::tempdir().unwrap();
    test_video(tmp.path(), 4);
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tiny");
    let cfg = format!(
        "input = \"input.avi\"\noutput = \"cfg-out\"\nmodel = \"{}\"\ndetect_interval = 1\nscore_threshold = 0.3\n",
        model.display()
    );
    std::fs::write(tmp.path().join("cam.toml"), cfg).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("cam.toml");
    let o = segstream(&["run", cfg_path.to_str().unwrap(), "-q"], elsewhere.path());
    assert!(o.status.success(), "{}", both(&o));
    assert_eq!(count_pngs(&tmp.path().join("cfg-out")), 4, "output relative to the config file");

    std::fs::write(tmp.path().join("bad.toml"), "input = \"input.avi\"\nspeed = 3\n").unwrap();
    let o = segstream(&["run", tmp.path().join("bad.toml").to_str().unwrap()], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("unknown field `speed`"), "{}", both(&o));
}

#[test]
fn run_errors_name_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let o = segstream(&["run", "no-such-video.mp4", "-o", "none"], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("input file no-such-video.mp4 not found"), "{}", both(&o));

    let video = test_video(tmp.path(), 2);
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--model", "/no/such/bundle"], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("/no/such/bundle"), "{}", both(&o));

    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--mqtt", "localhost"], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("--mqtt must be host:port"), "{}", both(&o));

    // Refused at start (no broker needed): a wildcard cannot be in a publish topic.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--mqtt", &addr, "--topic", "bad/#"], tmp.path());
    assert!(!o.status.success());
    assert!(both(&o).contains("topic \"bad/#\"") && both(&o).contains("wildcards"), "{}", both(&o));
}

/// Out-of-range flags and config values are usage errors naming the flag or key (exit 2,
/// from the option parser and from the config check), never a panic (exit 101).
#[test]
fn detect_interval_out_of_range_is_refused_by_flag_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 2);
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--detect-interval", "4294967295"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(both(&o).contains("'--detect-interval <DETECT_INTERVAL>': 4294967295 is outside 0..=10000"), "{}", both(&o));

    std::fs::write(tmp.path().join("c.toml"), "input = \"input.avi\"\noutput = \"none\"\ndetect_interval = 4294967295\n").unwrap();
    let o = segstream(&["run", tmp.path().join("c.toml").to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(both(&o).contains("c.toml: detect_interval: 4294967295 is outside 0..=10000"), "{}", both(&o));
}

/// A box that does not fit the video is an error once the frame size is known.
#[test]
fn target_outside_the_frame_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 4);
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "-q", "--target", "150,10,20,20"], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("--target 150,10,20,20 is outside the 160x120 frame"), "{}", both(&o));
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "-q", "--target", "140,10,20,20"], tmp.path());
    assert!(o.status.success(), "a box touching the right edge fits: {}", both(&o));
}

/// `--output` picks the container by extension; an unknown extension is an error (it used
/// to become a directory of PNGs named `out.avi`).
#[test]
fn output_extension_picks_the_container_or_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let video = test_video(tmp.path(), 3);
    for (name, magic) in [("out.avi", &b"RIFF"[..]), ("out.mkv", &[0x1a, 0x45, 0xdf, 0xa3][..])] {
        let out = tmp.path().join(name);
        let o = segstream(&["run", video.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q"], tmp.path());
        assert!(o.status.success(), "{name}: {}", both(&o));
        let bytes = std::fs::read(&out).unwrap_or_else(|e| panic!("{name} is not a file: {e}"));
        assert_eq!(&bytes[..4], magic, "{name} container");
    }
    let avi = std::fs::read(tmp.path().join("out.avi")).unwrap();
    assert_eq!(&avi[8..12], b"AVI ");

    let out = tmp.path().join("out.xyz");
    let o = segstream(&["run", video.to_str().unwrap(), "-o", out.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("out.xyz: unknown video file extension `.xyz` (known: .mp4, .mov, .mkv, .avi;"), "{}", both(&o));
    assert!(!out.exists(), "nothing is written for a refused output");
}

#[test]
fn run_publishes_one_json_message_per_frame_over_mqtt() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let port = broker.port.to_string();
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "cli/frames", "-t", "cli/ready", "-v"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub installed");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Wait until the subscription is live: publish on the ready topic until it comes back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        Command::new("mosquitto_pub").args(["-h", "127.0.0.1", "-p", &port, "-t", "cli/ready", "-m", "x"]).status().unwrap();
        if rx.recv_timeout(Duration::from_millis(300)).is_ok_and(|l| l.starts_with("cli/ready")) {
            break;
        }
        assert!(Instant::now() < deadline, "subscriber never ready");
    }
    let video = test_video(tmp.path(), 8);
    let addr = format!("127.0.0.1:{port}");
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--mqtt", &addr, "--topic", "cli/frames", "-q"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    let mut frames = Vec::new();
    while frames.len() < 8 {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("8 frame messages within 20 s");
        let Some(payload) = line.strip_prefix("cli/frames ") else { continue };
        let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"));
        frames.push(v["frame"].as_u64().expect("frame number"));
        assert!(v["objects"].is_array(), "{payload}");
    }
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(frames, (0..8).collect::<Vec<u64>>());
}

/// `--accept-commands` subscribes the sink to the commands topic; without it the topic is
/// unsubscribed (the CLI's default client id keeps a persistent session between runs).
#[test]
fn accept_commands_flag_decides_the_commands_subscription() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let video = test_video(tmp.path(), 2);
    let addr = format!("127.0.0.1:{}", broker.port);
    let subscribed = "\tsegstream/default/commands (QoS 0)";
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--mqtt", &addr, "-q"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    broker.wait_log("Received UNSUBSCRIBE from segstream-default");
    assert!(!broker.log().contains(subscribed), "subscribed to commands without --accept-commands");
    let o = segstream(&["run", video.to_str().unwrap(), "-o", "none", "--mqtt", &addr, "--accept-commands", "-q"], tmp.path());
    assert!(o.status.success(), "{}", both(&o));
    broker.wait_log(subscribed);
}
