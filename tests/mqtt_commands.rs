//! Commands through a real mosquitto: every malformed command gets a clear error reply
//! and changes nothing; valid ones are queued for the video thread, whose outcome becomes
//! the reply; a flood gets one reply per command or a counted drop. Commands are off unless
//! `accept_commands`; a command over the incoming limit costs one reconnect, not a loop.
mod mqtt_support;

use mqtt_support::*;
use segstream::command::{AddTarget, Command, CommandContext, Outcome, Target};
use segstream::mqtt::{MqttConfig, Publisher};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn config(port: u16, stream: &str, dir: &Path) -> MqttConfig {
    MqttConfig { accept_commands: true, ..client_config(port, stream, dir) }
}

fn send(port: u16, dir: &Path, topic: &str, name: &str, body: &[u8]) {
    let f = dir.join(name);
    std::fs::write(&f, body).unwrap();
    mosquitto_pub(port, topic, &f);
}

/// Waits for `n` commands from the video-thread side.
fn take(p: &Publisher, n: usize) -> Vec<String> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && t0.elapsed() < Duration::from_secs(20) {
        got.extend(p.take_commands().into_iter().map(|r| r.id.unwrap_or_default()));
        std::thread::sleep(Duration::from_millis(20));
    }
    got
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_subscribed(p: &Publisher) {
    let t0 = Instant::now();
    while !p.status().commands_subscribed {
        assert!(t0.elapsed() < Duration::from_secs(10), "publisher never subscribed: {:?}", p.status());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn malformed_commands_get_error_replies_and_valid_ones_are_queued() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let replies = Sub::start(&broker, "segstream/cam6/responses", "sub-replies", &[]);
    let p = Publisher::start(&config(broker.port, "cam6", tmp.path())).unwrap();
    p.set_command_context(CommandContext { frame_size: Some((320, 240)), frame: Some(10), known_ids: [1, 2].into() });
    wait_subscribed(&p);
    // Over the 64 KiB command limit, under the client's 1 MiB packet limit: a clear reply.
    let huge = format!(r#"{{"id":"huge","command":"add_text_target","text":"{}"}}"#, "x".repeat(512 << 10));
    // (message, expected fragment of the error; None = valid)
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{\"id\": \"a\", \"command\": ".into(), Some("bad JSON")),
        (r#"{"id":"b","command":"add_target","box":"wide"}"#.into(), Some("add_target: invalid type: string \"wide\"")),
        (r#"{"id":"c","command":"add_target","box":[300,200,50,60]}"#.into(), Some("outside the 320x240 frame")),
        (r#"{"id":"d","command":"remove_target","track_id":77}"#.into(), Some("unknown track id 77")),
        (r#"{"id":"e","command":"set_detect_interval","interval":-3}"#.into(), Some("invalid value: integer `-3`")),
        // Counts whose sum wraps a u64: this panicked the MQTT thread and stopped publishing.
        (
            r#"{"id":"wrap","command":"add_target","mask":{"size":[1,1],"counts":"oooooooooooo7oooooooooooo73"}}"#.into(),
            Some("invalid RLE counts"),
        ),
        (r#"{"id":"big","command":"add_target","mask":{"size":[8192,8192],"counts":"0[1"}}"#.into(), Some("the size says 67108864")),
        (r#"{"id":"extra","command":"add_target","mask":{"size":[1,1],"counts":"01","x":1}}"#.into(), Some("unknown field `x`")),
        (r#"{"id":"f","command":"self_destruct"}"#.into(), Some("unknown command `self_destruct`")),
        (huge, Some("exceeds the 65536-byte command limit")),
        (r#"{"id":"ok1","command":"add_target","frame":9,"box":[10,10,40,30]}"#.into(), None),
        (r#"{"id":"ok2","command":"remove_target","track_id":2}"#.into(), None),
    ];
    for (i, (msg, _)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("cmd{i}.json"));
        std::fs::write(&f, msg).unwrap();
        mosquitto_pub(broker.port, "segstream/cam6/commands", &f);
    }
    // The video thread (here: the test) takes the valid commands and answers them.
    let t0 = Instant::now();
    let mut queued = Vec::new();
    while queued.len() < 2 && t0.elapsed() < Duration::from_secs(10) {
        queued.extend(p.take_commands());
        std::thread::sleep(Duration::from_millis(20));
    }
    let cmds: Vec<_> = queued.iter().map(|r| (r.id.clone().unwrap(), r.command.clone())).collect();
    assert_eq!(
        cmds,
        vec![
            (
                "ok1".to_string(),
                Command::AddTarget(AddTarget { frame: Some(9), target: Target::Box([10.0, 10.0, 40.0, 30.0]), label: None })
            ),
            ("ok2".to_string(), Command::RemoveTarget { track_id: 2 }),
        ]
    );
    let outcome = |r: &segstream::command::Request, error: Option<&str>| Outcome {
        id: r.id.clone(),
        command: Some(r.name().into()),
        error: error.map(String::from),
        frame: Some(11),
        track_id: None,
    };
    p.reply(&outcome(&queued[0], None));
    p.reply(&outcome(&queued[1], Some("segment refused it")));
    let lines = replies.wait_for(cases.len(), Duration::from_secs(15));
    assert_eq!(lines.len(), cases.len(), "replies: {lines:#?}");
    for ((msg, want), line) in cases.iter().zip(&lines) {
        let r: Value = serde_json::from_str(line).unwrap();
        match want {
            Some(fragment) => {
                assert_eq!(r["ok"], false, "{line}");
                let err = r["error"].as_str().unwrap();
                assert!(err.contains(fragment), "reply to {:.60}: {err}", msg);
            }
            None if r["id"] == "ok1" => {
                assert_eq!(
                    (r["ok"].as_bool(), r["status"].as_str(), r["frame"].as_u64()),
                    (Some(true), Some("applied"), Some(11)),
                    "{line}"
                )
            }
            None => assert_eq!((r["ok"].as_bool(), r["error"].as_str()), (Some(false), Some("segment refused it")), "{line}"),
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&lines[1]).unwrap()["id"], "b", "request id echoed");
    validate_with_schema("reply.schema.json", &lines, tmp.path());
    assert!(p.take_commands().is_empty());
    // Neither the oversized message nor the hostile masks cost the connection: a frame
    // published now is acknowledged, not spooled.
    assert_eq!(p.counters().reconnects, 0);
    assert!(p.status().connected);
    assert!(p.publish_frame(b"{}".to_vec()));
    assert!(p.flush(Duration::from_secs(10)), "frame after the commands acknowledged");
    assert_eq!((p.counters().acknowledged, p.counters().spooled), (1, 0));
}

/// A flood of commands: every one is answered, or its reply is counted as dropped
/// (bounded reply queue); none disappears unaccounted.
#[test]
fn a_flood_of_commands_gets_one_reply_each_or_a_counted_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let replies = Sub::start(&broker, "segstream/cam7/responses", "sub-flood", &[]);
    let p = Publisher::start(&config(broker.port, "cam7", tmp.path())).unwrap();
    wait_subscribed(&p);
    let n = 800;
    let body: String = (0..n).map(|i| format!("{{\"id\":\"{i}\",\"command\":\"remove_target\",\"track_id\":{i}}}\n")).collect();
    let mut publisher = std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-t", "segstream/cam7/commands", "-q", "1", "-l"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut publisher.stdin.take().unwrap(), body.as_bytes()).unwrap();
    assert!(publisher.wait().unwrap().success());
    let t0 = Instant::now();
    let lines = loop {
        let dropped = p.counters().replies_dropped as usize;
        let lines = replies.wait_for(n - dropped, Duration::from_millis(200));
        if lines.len() + dropped >= n || t0.elapsed() > Duration::from_secs(60) {
            break lines;
        }
    };
    let dropped = p.counters().replies_dropped as usize;
    println!("{} replies, {dropped} dropped", lines.len());
    assert_eq!(lines.len() + dropped, n, "every command answered or counted");
    let ids: std::collections::BTreeSet<String> =
        lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), lines.len(), "one reply per command");
    assert!(lines.iter().all(|l| l.contains("unknown track id")), "{:?}", &lines[..3]);
}

/// A 20 MB command (over the client's incoming limit) drops the connection once; it is
/// not redelivered, neither after the reconnect nor after a broker restart (the broker
/// keeps our persistent session), and commands keep working.
#[test]
fn oversized_command_costs_one_reconnect_and_is_not_redelivered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&tmp.path().join("broker"));
    let p = Publisher::start(&config(broker.port, "poison", tmp.path())).unwrap();
    p.set_command_context(CommandContext { frame_size: Some((320, 240)), frame: Some(1), known_ids: [1].into() });
    wait_subscribed(&p);
    let topic = "segstream/poison/commands";
    let big = format!(r#"{{"id":"big","command":"add_text_target","text":"{}"}}"#, "x".repeat(20 << 20));
    send(broker.port, tmp.path(), topic, "big.json", big.as_bytes());
    wait_until("the drop and the reconnect", || p.counters().reconnects >= 1 && p.status().commands_subscribed);
    let warnings = p.take_warnings();
    assert!(warnings.iter().any(|w| w.contains("payload size limit exceeded") && w.contains("64 KiB")), "{warnings:?}");
    send(broker.port, tmp.path(), topic, "a.json", br#"{"id":"after-drop","command":"set_detect_interval","interval":5}"#);
    assert_eq!(take(&p, 1), ["after-drop"]);
    broker.stop();
    broker.restart();
    wait_until("the reconnect after the restart", || p.counters().reconnects >= 2 && p.status().commands_subscribed);
    send(broker.port, tmp.path(), topic, "b.json", br#"{"id":"after-restart","command":"set_detect_interval","interval":6}"#);
    assert_eq!(take(&p, 1), ["after-restart"]);
    // One reconnect for the oversized command, one for the restart: no loop.
    assert_eq!(p.counters().reconnects, 2, "{:?}", p.status());
    assert!(p.status().connected);
}

/// Without `accept_commands` the commands topic is not subscribed, and a subscription an
/// earlier run (same client id, persistent session) left behind is removed.
#[test]
fn commands_are_ignored_unless_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Broker::start(&tmp.path().join("broker"));
    let mut cfg = config(broker.port, "nocmd", tmp.path());
    let topic = "segstream/nocmd/commands";
    let delivered = format!("Sending PUBLISH to {} (d0, q0, r0, m0, '{topic}'", cfg.client_id);
    let p = Publisher::start(&cfg).unwrap();
    wait_subscribed(&p);
    send(broker.port, tmp.path(), topic, "a.json", br#"{"id":"accepted","command":"set_detect_interval","interval":5}"#);
    assert_eq!(take(&p, 1), ["accepted"]);
    assert_eq!(broker.log().matches(&delivered).count(), 1, "the broker log names deliveries this way");
    drop(p);
    cfg.accept_commands = false;
    let p = Publisher::start(&cfg).unwrap();
    broker.wait_log(&format!("Received UNSUBSCRIBE from {}", cfg.client_id));
    send(broker.port, tmp.path(), topic, "b.json", br#"{"id":"ignored","command":"set_detect_interval","interval":5}"#);
    // mosquitto routes a message before acknowledging it to mosquitto_pub.
    assert_eq!(broker.log().matches(&delivered).count(), 1, "the broker still delivers commands to the pipeline");
    assert!(p.take_commands().is_empty());
    assert!(!p.status().commands_subscribed);
}
