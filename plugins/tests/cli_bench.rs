//! `segstream bench` run as a user would: the report's numbers must add up, and bad
//! arguments are refused with a message. (Numbers are checked for consistency, never
//! against wall-clock limits.)
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segstream")).arg("bench").args(args).env_remove("SEGSTREAM_MODEL").output().unwrap()
}

fn stage<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap_or_else(|| panic!("no stage {name}"))
}

#[test]
fn report_stages_add_up_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = bench(&["--frames", "6", "--warmup", "2", "--size", "160x120", "--json", json.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("| encoder |") && text.contains("160x120"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["frames"], 6);
    let mean = |n: &str| stage(&r, n)["mean_ms"].as_f64().unwrap();
    let parts: f64 = ["preprocess", "encoder", "decoder", "tracker", "postprocess"].iter().map(|n| mean(n)).sum();
    assert!((parts - mean("total")).abs() < 1e-6 * mean("total").max(1.0), "parts {parts} total {}", mean("total"));
    assert!(mean("encoder") > 0.0 && mean("decoder") > 0.0);
    let fps = r["fps"].as_f64().unwrap();
    assert!((fps - 1e3 / mean("total")).abs() < 1e-6 * fps);
    let share = r["tracker_share"].as_f64().unwrap();
    assert!((share - mean("tracker") / mean("total")).abs() < 1e-9);
    for s in r["stages"].as_array().unwrap() {
        let (p50, p95, max) = (s["p50_ms"].as_f64().unwrap(), s["p95_ms"].as_f64().unwrap(), s["max_ms"].as_f64().unwrap());
        assert!(p50 <= p95 && p95 <= max, "{s}");
    }
    assert!(r["peak_rss_kb"].as_u64().unwrap() >= r["rss_kb"].as_u64().unwrap());
}

#[test]
fn bad_arguments_are_refused() {
    for (args, want) in [
        (&["--size", "10x10"][..], "at least 16x16"),
        (&["--size", "640"][..], "expected WxH"),
        (&["--detect-interval", "0"][..], "detect-interval"),
        (&["--frames", "0"][..], "at least 1 measured frame"),
        (&["--difficulty", "brutal"][..], "brutal"),
        (&["--model", "/nonexistent/bundle"][..], "/nonexistent/bundle"),
    ] {
        let out = bench(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
