//! `segstream run rtsp://...` against a real RTSP server on loopback (gst-rtsp-server via
//! tests/support/rtsp_server.py, serving vtest.avi): the server is killed and restarted,
//! then frozen (SIGSTOP: a source that stalls without closing). The run survives both, frame
//! numbers and timestamps stay increasing, consumers get `source_lost` / `source_restored`
//! events, targets are kept across the outage, and the metrics count the outages.
mod http_support;
mod media_support;
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use http_support::get;
use media_support::*;
use mqtt_support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The RTSP server process; killed on drop.
struct RtspServer {
    port: u16,
    child: Child,
}

impl RtspServer {
    fn start(port: u16) -> RtspServer {
        // /usr/bin/python3: PyGObject and the GstRtspServer typelib are Debian packages.
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/support/rtsp_server.py"))
            .arg(port.to_string())
            .arg(vtest_avi())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 (deploy/install-deps.sh installs python3-gi and gir1.2-gst-rtsp-server-1.0)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "RTSP server did not start");
        RtspServer { port, child }
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success());
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    get(port, path).map(|(status, _)| status)
}

fn scrape_value(port: u16, metric: &str) -> Option<f64> {
    let (_, text) = get(port, "/metrics")?;
    text.lines().find(|l| l.starts_with(metric)).and_then(|l| l.split_whitespace().last()?.parse().ok())
}

/// Messages received so far, split into frames and events (topic prefix from `-v`).
fn received(sub: &Sub) -> (Vec<Value>, Vec<Value>) {
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    for line in sub.lines.lock().unwrap().iter() {
        let (topic, payload) = line.split_once(' ').unwrap();
        let parse = || -> Value { serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {line}")) };
        match topic.rsplit('/').next() {
            Some("frames") => frames.push(parse()),
            Some("events") => events.push(parse()),
            _ => (), // status: online / offline
        }
    }
    (frames, events)
}

fn source_events(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| e["event"].as_str().is_some_and(|k| k.starts_with("source_"))).cloned().collect()
}

/// The `segstream run` process: killed if the test fails before it ends.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The late frames of the run's `done:` line.
fn summary_late(log: &str) -> u64 {
    let done = log.lines().find_map(|l| l.strip_prefix("done: ")).unwrap_or_else(|| panic!("no done line: {log}"));
    let n = done.strip_suffix(" late frames dropped").and_then(|d| d.rsplit(", ").next()).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("no late count in {done:?}"))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rtsp_run_survives_a_server_restart_and_a_stalled_server() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let sub = Sub::start(&broker, "segstream/camR/#", "sub-rtsp", &["-v"]);
    let mut server = RtspServer::start(free_port());
    let metrics = free_port();
    let mut run = Run(Command::new(env!("CARGO_BIN_EXE_segstream"))
        .arg("run")
        .arg(format!("rtsp://127.0.0.1:{}/cam", server.port))
        .args(["-o", "none", "-q", "--stream-id", "camR", "--mqtt", &format!("127.0.0.1:{}", broker.port)])
        .args(["--stall-timeout", "3", "--metrics", &format!("127.0.0.1:{metrics}"), "--health-timeout", "1"])
        // Detection off, one given target: any id after the outage is the kept target.
        .args(["--detect-interval", "0", "--target", "100,60,80,80"])
        .env_remove("GST_PLUGIN_PATH")
        .env("XDG_CACHE_HOME", tmp.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let mut stderr = run.0.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let frames_now = || received(&sub).0.len();
    let lost_restored = || source_events(&received(&sub).1).len();
    let limit = Duration::from_secs(60);

    wait_until("10 frames", limit, || frames_now() >= 10);
    server.signal("-KILL");
    wait_until("source_lost after the server died", limit, || lost_restored() >= 1);
    wait_until("/healthz 503 during the outage", limit, || http_status(metrics, "/healthz") == Some(503));
    let port = server.port;
    drop(server);
    server = RtspServer::start(port);
    wait_until("source_restored", limit, || lost_restored() >= 2);
    let before_stall = frames_now();
    wait_until("10 frames after the restart", limit, || frames_now() >= before_stall + 10);
    assert_eq!(http_status(metrics, "/healthz"), Some(200));

    server.signal("-STOP"); // the connection stays open, nothing is sent
    wait_until("source_lost after the stall", limit, || lost_restored() >= 3);
    server.signal("-CONT");
    wait_until("source_restored after the stall", limit, || lost_restored() >= 4);
    let after = frames_now();
    wait_until("5 frames after the stall", limit, || frames_now() >= after + 5);
    assert_eq!(scrape_value(metrics, "segstream_source_outages_total{camera=\"camR\"}"), Some(2.0));
    let late_scraped = scrape_value(metrics, "segstream_late_frames_total{camera=\"camR\"}").expect("late frames exported");

    Command::new("kill").args(["-INT", &run.0.id().to_string()]).status().unwrap();
    let status = run.0.wait().unwrap();
    let log = log.join().unwrap();
    assert!(status.success(), "{log}");
    std::thread::sleep(Duration::from_millis(500));

    let (frames, events) = received(&sub);
    let numbers: Vec<u64> = frames.iter().map(|f| f["frame"].as_u64().unwrap()).collect();
    assert_eq!(numbers.first(), Some(&0));
    assert!(numbers.windows(2).all(|w| w[1] > w[0]), "frame numbers continue across outages: {numbers:?}");
    // A gap is a frame segment dropped as late (a loaded machine); the run's summary and
    // /metrics count them, the summary including any dropped after the last message.
    let missing = numbers.last().unwrap() + 1 - numbers.len() as u64;
    let late = summary_late(&log);
    assert!(
        missing <= late && late_scraped <= late as f64,
        "{missing} frame numbers missing, {late_scraped} late in /metrics, {late} in: {log}"
    );
    let pts: Vec<u64> = frames.iter().map(|f| f["pts"].as_u64().expect("pts")).collect();
    assert!(pts.windows(2).all(|w| w[1] > w[0]), "pts not increasing: {pts:?}");

    let src = source_events(&events);
    let kinds: Vec<&str> = src.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["source_lost", "source_restored", "source_lost", "source_restored"], "{src:?}");
    assert!(src[2]["reason"].as_str().unwrap().contains("no frame for 3.0 s"), "{}", src[2]);
    for pair in src.chunks(2) {
        let (lost, back) = (pair[0]["frame"].as_u64().unwrap(), pair[1]["frame"].as_u64().unwrap());
        // Usually lost + 1; a frame the leaky live queue drops right after the reconnect
        // (a loaded machine) makes it later, never earlier.
        assert!(back > lost, "the restored event names a frame after the lost one: {pair:?}");
        assert!(pair[1]["outage_ms"].as_u64().unwrap() > 0);
    }
    let restored_at = src[1]["frame"].as_u64().unwrap() as usize;
    let ids = |fs: &[Value]| -> std::collections::BTreeSet<u64> {
        fs.iter().flat_map(|f| f["objects"].as_array().unwrap().iter().map(|o| o["track_id"].as_u64().unwrap())).collect()
    };
    let (ids_before, ids_after) = (ids(&frames[..restored_at]), ids(&frames[restored_at..]));
    assert!(!ids_before.is_empty(), "the given target was not tracked");
    assert!(!ids_after.is_empty() && ids_after.is_subset(&ids_before), "targets kept: before {ids_before:?}, after {ids_after:?}");

    let lines: Vec<String> = src.iter().map(|e| e.to_string()).collect();
    validate_with_schema("events.schema.json", &lines, tmp.path());
}

/// Every replaced source generation (its uridecodebin, rtspsrc, decoder, threads' state) is
/// freed, failed connection attempts included: the run logs each one it frees at debug
/// level, and a generation still referenced somewhere would never be logged.
#[test]
fn rtsp_replaced_sources_are_freed() {
    let mut server = RtspServer::start(free_port());
    let mut run = Run(Command::new(env!("CARGO_BIN_EXE_segstream"))
        .arg("run")
        .arg(format!("rtsp://127.0.0.1:{}/cam", server.port))
        .args([
            "-o",
            "none",
            "--stall-timeout",
            "3",
            "--detect-interval",
            "0",
            "--log-level",
            "segstream::source=debug,segstream::run=info",
        ])
        .env_remove("GST_PLUGIN_PATH")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let stderr = run.0.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        })
    };
    let count = |what: &str| log.lock().unwrap().matches(what).count();
    // The progress line, once a second: "frames N  fps ...".
    let frames = || {
        let log = log.lock().unwrap();
        log.lines().filter_map(|l| l.strip_prefix("frames ")?.split_whitespace().next()?.parse::<u64>().ok()).max().unwrap_or(0)
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while !done() {
            assert!(t0.elapsed() < Duration::from_secs(40), "timed out waiting for {what}: {}", log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("10 frames", &|| frames() >= 10);
    // Two outages; while the server is down, connection attempts fail too.
    for outage in 1..=2 {
        let lost_before = count(" lost (");
        let port = server.port;
        drop(server);
        wait("source lost", &|| count(" lost (") > lost_before);
        std::thread::sleep(Duration::from_secs(1));
        server = RtspServer::start(port);
        wait("source back", &|| count(" back after ") >= outage);
        let before = frames();
        wait("frames after the outage", &|| frames() >= before + 5);
    }
    Command::new("kill").args(["-INT", &run.0.id().to_string()]).status().unwrap();
    let status = run.0.wait().unwrap();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(status.success(), "{log}");
    // Each loss replaces the current generation; generations are numbered from 0.
    let replaced = log.matches(" lost (").count();
    assert!(replaced >= 2, "{log}");
    for g in 0..replaced {
        assert!(log.contains(&format!("segstream-source-{g} freed")), "generation {g} of {replaced} replaced never freed: {log}");
    }
    // One live camera, not encoded ahead: its encoder takes the second core if there is one.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(log.contains("the image encoder runs 2 threads"), cores >= 2, "{cores} cores: {log}");
}
