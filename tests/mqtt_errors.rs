//! Broker trouble and bad settings: TLS trust failures, unreachable broker, bad files,
//! bad topics, spooled messages that can never be sent, two clients with one client id.
mod mqtt_support;

use mqtt_support::*;
use segstream::mqtt::spool::Spool;
use segstream::mqtt::{Publisher, TlsFiles};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

#[test]
fn tls_with_the_right_ca_delivers_without_it_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let tls = make_tls(tmp.path());
    let extra =
        format!("cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate false", tls.ca.display(), tls.cert.display(), tls.key.display());
    let broker = Broker::start_with(&tmp.path().join("broker"), free_port(), &extra);
    let never = AtomicBool::new(false);

    let mut good = client_config(broker.port, "tls-ok", tmp.path());
    good.tls = TlsFiles { ca_file: Some(tls.ca.clone()), ..Default::default() };
    let p = Publisher::start(&good).unwrap();
    p.wait_first_attempt(Duration::from_secs(10), &never).expect("TLS connection with the CA");
    for _ in 0..3 {
        p.publish_frame(b"{}".to_vec());
    }
    assert!(p.flush(Duration::from_secs(10)));
    assert_eq!(p.counters().acknowledged, 3);

    let mut bad = client_config(broker.port, "tls-no-ca", tmp.path());
    bad.tls = TlsFiles { enabled: true, ..Default::default() }; // system roots only
    let p = Publisher::start(&bad).unwrap();
    let err = p.wait_first_attempt(Duration::from_secs(10), &never).unwrap_err();
    println!("without the CA: {err}");
    assert!(err.contains("certificate") && err.contains("tls-ca-file"), "unclear: {err}");
    assert!(err.contains(&format!("127.0.0.1:{}", broker.port)), "{err}");
    p.publish_frame(b"{}".to_vec());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!((p.counters().acknowledged, p.counters().spooled), (0, 1));
}

#[test]
fn unreachable_broker_is_reported_and_publishing_still_never_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = Publisher::start(&client_config(port, "nobroker", tmp.path())).unwrap();
    let err = p.wait_first_attempt(Duration::from_secs(10), &AtomicBool::new(false)).unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.to_lowercase().contains("refused"), "{err}");
    let t0 = std::time::Instant::now();
    for _ in 0..100 {
        assert!(p.publish_frame(vec![b'x'; 1000]));
    }
    println!("100 publishes with no broker took {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.counters().spooled, 100);
    assert!(p.status().failed_attempts >= 1);
}

#[test]
fn bad_settings_fail_at_start_naming_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = client_config(1883, "bad", tmp.path());
    c.qos = 3;
    assert!(Publisher::start(&c).err().unwrap().to_string().contains("qos must be 0, 1 or 2"));
    let mut c = client_config(1883, "bad", tmp.path());
    c.tls.ca_file = Some(tmp.path().join("missing-ca.pem"));
    let e = Publisher::start(&c).err().unwrap().to_string();
    assert!(e.contains("missing-ca.pem"), "{e}");
    let mut c = client_config(1883, "bad", tmp.path());
    c.password = Some("hunter2".into());
    c.username = Some("user".into());
    assert!(!format!("{c:?}").contains("hunter2"), "password must never be printed");
}

#[test]
fn wildcard_topic_or_stream_id_fails_at_start_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = client_config(free_port(), "cam1", tmp.path());
    c.frames_topic = Some("bad/#".into());
    let e = Publisher::start(&c).err().expect("bad/# accepted").to_string();
    assert!(e.contains("topic \"bad/#\"") && e.contains("wildcards"), "{e}");
    let c = client_config(free_port(), "cam+1", tmp.path());
    let e = Publisher::start(&c).err().expect("cam+1 accepted").to_string();
    assert!(e.contains("stream-id \"cam+1\"") && e.contains("wildcards"), "{e}");
    assert!(!tmp.path().join("spool-cam+1").exists(), "nothing is spooled for a refused setting");
}

/// A spool left by another run can hold messages that can never be sent: a topic with a
/// wildcard, a message over this run's `max_message_bytes`. They are dropped (counted,
/// warned); they neither block the spool nor break the connection.
#[test]
fn undeliverable_spooled_messages_are_dropped_and_the_rest_flows() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let sub = Sub::start(&broker, "segstream/left/frames", "sub-left", &[]);
    let c = client_config(broker.port, "left", tmp.path());
    {
        let mut s = Spool::open(c.spool.clone()).unwrap();
        s.push("bad/#", b"wildcard").unwrap();
        s.push("segstream/left/frames", &vec![b'x'; c.max_message_bytes + 10_000]).unwrap();
        s.push("segstream/left/frames", b"spooled").unwrap();
    }
    let p = Publisher::start(&c).unwrap();
    p.wait_first_attempt(Duration::from_secs(10), &AtomicBool::new(false)).unwrap();
    assert!(p.publish_frame(b"live".to_vec()));
    assert!(p.flush(Duration::from_secs(20)), "{:?} {:?}", p.counters(), p.status());
    let c = p.counters();
    assert_eq!((c.acknowledged, c.dropped, c.reconnects), (2, 2, 0), "{c:?}");
    assert_eq!(sub.wait_for(2, Duration::from_secs(10)), ["spooled", "live"]);
    let warnings = p.take_warnings().join("\n");
    assert!(warnings.contains("\"bad/#\"") && warnings.contains("wildcards"), "{warnings}");
    assert!(warnings.contains("exceeds the") && warnings.contains("packet limit"), "{warnings}");
}

/// Two pipelines with the same client id take the session from each other; each notices
/// and says so, instead of reconnecting silently.
#[test]
fn two_clients_with_one_client_id_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let id = unique_client_id("twin");
    let mut a = client_config(broker.port, "twin-a", tmp.path());
    let mut b = client_config(broker.port, "twin-b", tmp.path());
    (a.client_id, b.client_id) = (id.clone(), id.clone());
    let (pa, pb) = (Publisher::start(&a).unwrap(), Publisher::start(&b).unwrap());
    let t0 = Instant::now();
    let mut warnings = Vec::new();
    while !warnings.iter().any(|w: &String| w.contains("another client with the same client id")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no takeover warning; status {:?} / {:?}", pa.status(), pb.status());
        warnings.extend(pa.take_warnings());
        warnings.extend(pb.take_warnings());
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{warnings:#?}");
    assert!(warnings.iter().any(|w| w.contains(&format!("{id:?}"))), "the warning names the client id: {warnings:?}");
}
