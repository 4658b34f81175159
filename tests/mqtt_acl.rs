//! Who may command a pipeline is the broker's decision: mosquitto with
//! `deploy/mosquitto/segstream.acl` (the file docs/PAYLOAD.md shows), password users
//! `pipeline`, `operator`, `viewer` and no anonymous clients.
mod mqtt_support;

use mqtt_support::*;
use segstream::command::CommandContext;
use segstream::mqtt::{MqttConfig, Publisher, SpoolConfig};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const USERS: [(&str, &str); 3] = [("pipeline", "pipeline-secret"), ("operator", "operator-secret"), ("viewer", "viewer-secret")];

fn password_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("passwd");
    std::fs::write(&file, "").unwrap();
    for (user, pass) in USERS {
        let ok = Command::new("mosquitto_passwd").arg("-b").arg(&file).args([user, pass]).status().expect("mosquitto_passwd is installed");
        assert!(ok.success(), "mosquitto_passwd {user}");
    }
    file
}

fn command(port: u16, dir: &Path, user: Option<(&str, &str)>, id: &str) -> bool {
    let f = dir.join(format!("{id}.json"));
    std::fs::write(&f, format!(r#"{{"id":"{id}","command":"set_detect_interval","interval":5}}"#)).unwrap();
    let auth: Vec<&str> = user.map(|(u, p)| vec!["-u", u, "-P", p]).unwrap_or_default();
    mosquitto_pub_as(port, &auth, "segstream/cam1/commands", &f)
}

#[test]
fn only_a_user_the_acl_lets_write_commands_can_command() {
    let tmp = tempfile::tempdir().unwrap();
    let acl = repo_root().join("deploy/mosquitto/segstream.acl");
    let broker = Broker::start_with_acl(&tmp.path().join("broker"), &password_file(tmp.path()), &acl);
    let cfg = MqttConfig {
        port: broker.port,
        stream: "cam1".into(),
        client_id: unique_client_id("acl"),
        username: Some("pipeline".into()),
        password: Some("pipeline-secret".into()),
        spool: SpoolConfig { dir: tmp.path().join("spool"), ..Default::default() },
        accept_commands: true,
        ..Default::default()
    };
    let p = Publisher::start(&cfg).unwrap();
    p.set_command_context(CommandContext { frame_size: Some((320, 240)), frame: Some(1), known_ids: Default::default() });
    let t0 = Instant::now();
    while !p.status().commands_subscribed {
        assert!(t0.elapsed() < Duration::from_secs(10), "the pipeline user could not subscribe: {:?}", p.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!command(broker.port, tmp.path(), None, "anonymous"), "an anonymous client got in");
    // The broker acknowledges the viewer's publish (MQTT 3.1.1 has no way to refuse it)
    // and drops it.
    assert!(command(broker.port, tmp.path(), Some(USERS[2]), "viewer"));
    assert!(broker.log().contains("Denied PUBLISH from"), "the broker did not deny the viewer");
    assert!(command(broker.port, tmp.path(), Some(USERS[1]), "operator"));
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the operator's command never arrived");
        got.extend(p.take_commands().into_iter().map(|r| r.id.unwrap_or_default()));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Delivered in order: had the viewer's command passed, it would be first.
    assert_eq!(got, ["operator"]);
    let c = p.counters();
    assert_eq!(c.dropped, 0);
}

/// The ACL shown in docs/PAYLOAD.md is the tested file, word for word.
#[test]
fn the_documented_acl_is_the_tested_file() {
    let acl = std::fs::read_to_string(repo_root().join("deploy/mosquitto/segstream.acl")).unwrap();
    let doc = std::fs::read_to_string(repo_root().join("docs/PAYLOAD.md")).unwrap();
    assert!(doc.contains(&acl), "docs/PAYLOAD.md does not show deploy/mosquitto/segstream.acl as it is");
}
