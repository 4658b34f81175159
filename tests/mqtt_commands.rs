//! Commands through a real mosquitto: every malformed command gets a clear error reply
//! and changes nothing; valid ones are queued for the video thread, which answers them.
mod mqtt_support;

use mqtt_support::*;
use segstream::command::{Command, CommandContext, Target};
use segstream::mqtt::{MqttConfig, Publisher, SpoolConfig};
use serde_json::Value;
use std::time::{Duration, Instant};

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
    let cfg = MqttConfig {
        port: broker.port,
        stream: "cam6".into(),
        spool: SpoolConfig { dir: tmp.path().join("spool"), ..Default::default() },
        ..Default::default()
    };
    let p = Publisher::start(&cfg).unwrap();
    p.set_command_context(CommandContext { frame_size: Some((320, 240)), frame: Some(10), known_ids: [1, 2].into() });
    wait_subscribed(&p);
    let huge = format!(r#"{{"id":"huge","command":"add_text_target","text":"{}"}}"#, "x".repeat(1 << 20));
    // (message, expected fragment of the error; None = valid)
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{\"id\": \"a\", \"command\": ".into(), Some("bad JSON")),
        (r#"{"id":"b","command":"add_target","box":"wide"}"#.into(), Some("array of 4 finite numbers")),
        (r#"{"id":"c","command":"add_target","box":[300,200,50,60]}"#.into(), Some("outside the 320x240 frame")),
        (r#"{"id":"d","command":"remove_target","track_id":77}"#.into(), Some("unknown track id 77")),
        (r#"{"id":"e","command":"set_detect_interval","interval":-3}"#.into(), Some("non-negative integer")),
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
            ("ok1".to_string(), Command::AddTarget { frame: Some(9), target: Target::Box([10.0, 10.0, 40.0, 30.0]), label: None }),
            ("ok2".to_string(), Command::RemoveTarget { track_id: 2 }),
        ]
    );
    p.acknowledge(&queued[0], Ok(()));
    p.acknowledge(&queued[1], Err("segment refused it".into()));
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
            None if r["id"] == "ok1" => assert_eq!((r["ok"].as_bool(), r["status"].as_str()), (Some(true), Some("accepted")), "{line}"),
            None => assert_eq!((r["ok"].as_bool(), r["error"].as_str()), (Some(false), Some("segment refused it")), "{line}"),
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&lines[1]).unwrap()["id"], "b", "request id echoed");
    validate_with_schema("reply.schema.json", &lines, tmp.path());
    assert!(p.take_commands().is_empty());
    // The oversized message did not cost the connection.
    assert_eq!(p.counters().reconnects, 0);
    assert!(p.status().connected);
}
