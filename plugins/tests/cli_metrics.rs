//! `segstream run --metrics`: /metrics scraped during a real run and parsed by the Prometheus
//! project's own OpenMetrics parser (Python prometheus_client), /healthz answers; values
//! checked against what the same run published over MQTT.
mod http_support;
mod media_support;
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use http_support::get;
use media_support::*;
use mqtt_support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

/// Parses every scrape with prometheus_client (tests/consumers/parse_metrics.py).
fn parse_scrapes(scrapes: &[String], dir: &Path) -> Vec<Samples> {
    let files: Vec<_> = scrapes
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let f = dir.join(format!("scrape-{i}.txt"));
            std::fs::write(&f, text).unwrap();
            f
        })
        .collect();
    let out = Command::new("python3").arg(repo_root().join("tests/consumers/parse_metrics.py")).args(&files).output().unwrap();
    assert!(out.status.success(), "prometheus_client rejected a scrape: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Samples>>(&out.stdout).unwrap()
}

fn value(s: &Samples, name: &str) -> Option<f64> {
    s.iter().find(|(n, labels, _)| n == name && labels.get("camera").map(String::as_str) == Some("camA")).map(|x| x.2)
}

#[test]
fn metrics_scraped_during_a_run_agree_with_the_published_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let sub = Sub::start(&broker, "segstream/camA/frames", "sub-metrics", &[]);
    let port = free_port();
    let n = 40;
    let mut child = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["run", vtest_avi().to_str().unwrap(), "-o", "none", "-q", "--max-frames", &n.to_string()])
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--stream-id", "camA"])
        .args(["--metrics", &format!("127.0.0.1:{port}"), "--health-timeout", "2"])
        .env_remove("GST_PLUGIN_PATH")
        .env("XDG_CACHE_HOME", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut scrapes, mut health) = (Vec::new(), Vec::new());
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(120), "run did not finish");
        if let Some(h) = get(port, "/healthz") {
            health.push(h);
        }
        if let Some((200, body)) = get(port, "/metrics") {
            scrapes.push(body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.wait().unwrap().success());
    let frames: Vec<Value> = sub.wait_for(n, Duration::from_secs(20)).iter().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>();
    assert_eq!(frames.len(), n, "MQTT frames");

    let parsed = parse_scrapes(&scrapes, tmp.path());
    let mut last = 0.0;
    let mut checked = 0;
    for s in &parsed {
        let counted = value(s, "segstream_frames_total").expect("segstream_frames_total{camera=\"camA\"}");
        assert!(counted >= last && counted <= n as f64, "frames_total {counted} after {last}");
        last = counted;
        // One snapshot: every counted frame has its latency observed.
        assert_eq!(value(s, "segstream_processing_seconds_count"), Some(counted));
        assert_eq!(value(s, "segstream_dropped_frames_total"), Some(0.0), "a file source drops nothing");
        assert_eq!(value(s, "segstream_late_frames_total"), Some(0.0), "a file source is not live: no frame is late");
        let published = value(s, "segstream_mqtt_published_total").expect("MQTT counters exported");
        assert!(value(s, "segstream_mqtt_acknowledged_total").unwrap() <= published);
        if counted >= 1.0 {
            // The objects gauge belongs to the last counted frame: the same frame's message.
            let msg = &frames[counted as usize - 1];
            assert_eq!(msg["frame"].as_f64(), Some(counted - 1.0));
            let objects = msg["objects"].as_array().unwrap().len() as f64;
            assert_eq!(value(s, "segstream_objects"), Some(objects), "objects on frame {}", counted - 1.0);
            assert!(value(s, "segstream_tracker_targets").unwrap() >= objects);
            assert_eq!(value(s, "segstream_flowing"), Some(1.0));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} scrapes during the run: {:?}", parsed.len());
    assert!(parsed.iter().any(|s| value(s, "segstream_fps").unwrap_or(0.0) > 0.0), "fps never above 0");

    // /healthz: 503 "no frame yet" only before the first 200; every 200 says flowing.
    let first_ok = health.iter().position(|(st, _)| *st == 200).expect("a 200 from /healthz while frames flowed");
    for (i, (status, body)) in health.iter().enumerate() {
        match status {
            200 => assert!(body.starts_with("camA: flowing: last frame"), "{body}"),
            503 => assert!(i < first_ok && body == "camA: not flowing: no frame yet\n", "{i}: {body}"),
            other => panic!("/healthz answered {other}: {body}"),
        }
    }
}

#[test]
fn metrics_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["run", vtest_avi().to_str().unwrap(), "-o", "none", "-q", "--max-frames", "1", "--metrics", &addr])
        .env_remove("GST_PLUGIN_PATH")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("--metrics {addr}: cannot listen")), "{err}");
}
