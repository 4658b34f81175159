//! `segmqttsink` under `gst_check::Harness` with results metas made by the test (no
//! model): messages, counters as properties, the stats message, missing-meta warning.
#[path = "../../tests/mqtt_support/mod.rs"]
mod mqtt_support;

use gst::prelude::*;
use mqtt_support::frames::disc_frame;
use mqtt_support::*;
use serde_json::Value;
use std::time::Duration;

fn harness(port: u16, spool: &std::path::Path, extra: &[(&str, &dyn ToValue)]) -> (gst_check::Harness, gst::Bus) {
    gst::init().unwrap();
    gstsegstream::plugin_register_static().unwrap();
    // Properties first: the harness sets a sink to PLAYING (start) right away.
    let el = gst::ElementFactory::make("segmqttsink")
        .property("port", port as u32)
        .property("stream-id", "camh")
        .property("client-id", unique_client_id("camh"))
        .property("spool-dir", spool.display().to_string())
        .property("stats-interval", 1u32)
        .build()
        .unwrap();
    for (k, v) in extra {
        el.set_property_from_value(k, &v.to_value());
    }
    let mut h = gst_check::Harness::with_element(&el, Some("sink"), None);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    h.set_src_caps_str("video/x-raw,format=RGB,width=160,height=120,framerate=30/1");
    (h, bus)
}

fn buffer_with_result(n: u64) -> gst::Buffer {
    let mut b = gst::Buffer::with_size(16).unwrap();
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(n * 40));
        gstsegstream::meta::attach(b, &disc_frame(n, 160, 120));
    }
    b
}

#[test]
fn metas_become_messages_and_counters_are_properties() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let sub = Sub::start(&broker, "segstream/camh/frames", "sub-camh", &[]);
    let (mut h, bus) = harness(broker.port, &tmp.path().join("spool"), &[("mask-scale", &0.5f64), ("polygons", &true)]);
    for n in 0..10 {
        assert_eq!(h.push(buffer_with_result(n)), Ok(gst::FlowSuccess::Ok));
    }
    h.push_event(gst::event::Eos::new());
    let lines = sub.wait_for(10, Duration::from_secs(10));
    let msgs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(msgs.iter().map(|m| m["frame"].as_u64().unwrap()).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(msgs[3]["pts"].as_u64(), Some(120_000_000));
    let obj = &msgs[0]["objects"][0];
    assert_eq!(obj["mask"]["size"], serde_json::json!([60, 80]), "mask-scale 0.5 of 160x120");
    assert!(obj["polygon"].as_array().is_some_and(|p| p.len() >= 6));
    validate_with_schema("frame.schema.json", &lines, tmp.path());
    let el = h.element().unwrap();
    let events = 3; // born 1, born 2 on frame 0, born 3 on frame 5
    assert_eq!(el.property::<u64>("published"), 10 + events);
    assert_eq!(el.property::<u64>("acknowledged"), 10 + events, "EOS waits for the acks");
    assert_eq!(el.property::<u64>("dropped"), 0);
    let stats: Vec<gst::Structure> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "segmqttsink-stats") => {
                Some(e.structure().unwrap().to_owned())
            }
            _ => None,
        })
        .collect();
    // The last one is posted at EOS, after everything was acknowledged.
    let last = stats.last().expect("no segmqttsink-stats message");
    assert!(last.get::<bool>("connected").unwrap());
    assert_eq!(last.get::<u64>("acknowledged").unwrap(), 10 + events);
    assert_eq!(last.get::<u64>("spool-messages").unwrap(), 0);
    assert_eq!((last.get::<u64>("replies-dropped").unwrap(), el.property::<u64>("replies-dropped")), (0, 0));
}

#[test]
fn buffers_without_meta_warn_once_and_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let (mut h, bus) = harness(broker.port, &tmp.path().join("spool"), &[]);
    for _ in 0..3 {
        assert_eq!(h.push(gst::Buffer::with_size(16).unwrap()), Ok(gst::FlowSuccess::Ok));
    }
    let warnings: Vec<String> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("without segstream results meta"), "{warnings:?}");
    assert_eq!(h.element().unwrap().property::<u64>("published"), 0);
}

#[test]
fn bad_settings_fail_the_state_change_with_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    gst::init().unwrap();
    gstsegstream::plugin_register_static().unwrap();
    let el = gst::ElementFactory::make("segmqttsink")
        .property("tls-ca-file", tmp.path().join("nope.pem").display().to_string())
        .property("spool-dir", tmp.path().join("spool").display().to_string())
        .property("client-id", unique_client_id("bad"))
        .build()
        .unwrap();
    assert!(start_error(&el).contains("nope.pem"));
    for (name, value) in [("topic", "bad/#"), ("stream-id", "cam+1")] {
        let spool = tmp.path().join(format!("spool-{name}"));
        let el = gst::ElementFactory::make("segmqttsink")
            .property(name, value)
            .property("port", free_port() as u32)
            .property("spool-dir", spool.display().to_string())
            .property("client-id", unique_client_id("bad"))
            .build()
            .unwrap();
        let err = start_error(&el);
        assert!(err.contains(&format!("{name} \"{value}\"")) && err.contains("wildcards"), "{err}");
        assert!(!spool.exists(), "nothing is spooled for a refused {name}");
    }
}

/// Starts `el` (expecting failure) and returns the error it posted.
fn start_error(el: &gst::Element) -> String {
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    assert!(el.set_state(gst::State::Paused).is_err());
    let err = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .unwrap();
    let _ = el.set_state(gst::State::Null);
    err
}

/// Two sinks with the same client id: the broker drops each when the other connects; the
/// element posts a WARNING naming the cause instead of reconnecting silently.
#[test]
fn same_client_id_twice_is_a_warning_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let id = unique_client_id("twin");
    let (mut a, bus_a) = harness(broker.port, &tmp.path().join("spool-a"), &[("client-id", &id)]);
    let (mut b, bus_b) = harness(broker.port, &tmp.path().join("spool-b"), &[("client-id", &id)]);
    let t0 = std::time::Instant::now();
    let mut n = 0;
    let warning = loop {
        assert!(t0.elapsed() < Duration::from_secs(60), "no warning about the shared client id");
        a.push(buffer_with_result(n)).unwrap();
        b.push(buffer_with_result(n)).unwrap();
        n += 1;
        let found = std::iter::from_fn(|| bus_a.pop().or_else(|| bus_b.pop())).find_map(|m| match m.view() {
            gst::MessageView::Warning(w) if w.error().to_string().contains("another client with the same client id") => {
                Some(w.error().to_string())
            }
            _ => None,
        });
        if let Some(w) = found {
            break w;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(warning.contains(&format!("{id:?}")), "{warning}");
}

/// TLS through the element: with the CA it delivers; without it the sink warns with the
/// cause and keeps accepting buffers (they are spooled).
#[test]
fn tls_with_and_without_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let tls = make_tls(tmp.path());
    let extra = format!("cafile {}\ncertfile {}\nkeyfile {}", tls.ca.display(), tls.cert.display(), tls.key.display());
    let broker = Broker::start_with(&tmp.path().join("broker"), free_port(), &extra);
    let ca = tls.ca.display().to_string();
    let (mut h, _bus) = harness(broker.port, &tmp.path().join("spool-ok"), &[("tls-ca-file", &ca)]);
    for n in 0..5 {
        h.push(buffer_with_result(n)).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    assert_eq!(h.element().unwrap().property::<u64>("acknowledged"), 5 + 2, "5 frames + born 1, born 2");
    drop(h);

    gst::init().unwrap();
    gstsegstream::plugin_register_static().unwrap();
    let el = gst::ElementFactory::make("segmqttsink")
        .property("port", broker.port as u32)
        .property("tls", true)
        .property("stream-id", "notrust")
        .property("client-id", unique_client_id("notrust"))
        .property("spool-dir", tmp.path().join("spool-bad").display().to_string())
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut h = gst_check::Harness::with_element(&el, Some("sink"), None);
    h.set_src_caps_str("video/x-raw,format=RGB,width=160,height=120,framerate=30/1");
    for n in 0..5 {
        assert_eq!(h.push(buffer_with_result(n)), Ok(gst::FlowSuccess::Ok));
    }
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("no warning");
    assert!(warning.contains("certificate") && warning.contains("tls-ca-file"), "{warning}");
    assert_eq!(h.element().unwrap().property::<u64>("acknowledged"), 0);
}

/// Spool limits through the element: broker absent, small spool: the oldest messages are
/// dropped and counted, the directory stays within `spool-max-bytes`.
#[test]
fn spool_limit_holds_with_no_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let limit = 40_000u64;
    let (mut h, _bus) = harness(free_port(), &spool, &[("spool-max-bytes", &limit), ("publish-events", &false)]);
    for n in 0..100 {
        h.push(buffer_with_result(n)).unwrap();
    }
    let el = h.element().unwrap();
    let t0 = std::time::Instant::now();
    while el.property::<u64>("spooled") < 100 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let on_disk: u64 = std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let files = std::fs::read_dir(&spool).unwrap().count() as u64;
    assert_eq!(el.property::<u64>("spooled"), 100);
    assert!(on_disk <= limit, "{on_disk} > {limit}");
    assert_eq!(el.property::<u64>("dropped"), 100 - files);
    assert!(files > 0 && files < 100);
}
