//! Broker trouble and bad settings: TLS trust failures, unreachable broker, bad files.
mod mqtt_support;

use mqtt_support::*;
use segstream::mqtt::{MqttConfig, Publisher, SpoolConfig, TlsFiles};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn cfg(port: u16, stream: &str, dir: &std::path::Path) -> MqttConfig {
    MqttConfig {
        port,
        stream: stream.into(),
        spool: SpoolConfig { dir: dir.join(format!("spool-{stream}")), ..Default::default() },
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(300),
        ..Default::default()
    }
}

#[test]
fn tls_with_the_right_ca_delivers_without_it_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let tls = make_tls(tmp.path());
    let extra =
        format!("cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate false", tls.ca.display(), tls.cert.display(), tls.key.display());
    let broker = Broker::start_with(&tmp.path().join("broker"), free_port(), &extra);
    let never = AtomicBool::new(false);

    let mut good = cfg(broker.port, "tls-ok", tmp.path());
    good.tls = TlsFiles { ca_file: Some(tls.ca.clone()), ..Default::default() };
    let p = Publisher::start(&good).unwrap();
    p.wait_first_attempt(Duration::from_secs(10), &never).expect("TLS connection with the CA");
    for _ in 0..3 {
        p.publish_frame(b"{}".to_vec());
    }
    assert!(p.flush(Duration::from_secs(10)));
    assert_eq!(p.counters().acknowledged, 3);

    let mut bad = cfg(broker.port, "tls-no-ca", tmp.path());
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
    let p = Publisher::start(&cfg(port, "nobroker", tmp.path())).unwrap();
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
    let mut c = cfg(1883, "bad", tmp.path());
    c.qos = 3;
    assert!(Publisher::start(&c).err().unwrap().to_string().contains("qos must be 0, 1 or 2"));
    let mut c = cfg(1883, "bad", tmp.path());
    c.tls.ca_file = Some(tmp.path().join("missing-ca.pem"));
    let e = Publisher::start(&c).err().unwrap().to_string();
    assert!(e.contains("missing-ca.pem"), "{e}");
    let mut c = cfg(1883, "bad", tmp.path());
    c.password = Some("hunter2".into());
    c.username = Some("user".into());
    assert!(!format!("{c:?}").contains("hunter2"), "password must never be printed");
}
