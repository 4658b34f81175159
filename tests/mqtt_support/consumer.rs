//! Runs the Python MQTT consumer `tests/consumers/consume.py` (paho-mqtt + pycocotools),
//! the outside judge of what a subscriber decodes, and waits until it has subscribed.
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

pub struct Consumer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Consumer {
    /// Expects `count` messages on `topic` whose masks equal the JSON lines of `expect`.
    pub fn start(repo_root: &Path, port: u16, topic: &str, count: u64, expect: &Path, timeout_s: u32) -> Consumer {
        let mut child = Command::new("python3")
            .arg(repo_root.join("tests/consumers/consume.py"))
            .args(["--port", &port.to_string(), "--topic", topic, "--count", &count.to_string()])
            .arg("--expect")
            .arg(expect)
            .args(["--timeout", &timeout_s.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with paho-mqtt and pycocotools");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "subscribed");
        Consumer { child, out }
    }

    /// Waits for the consumer; returns (exited successfully, its JSON summary).
    pub fn finish(mut self) -> (bool, String) {
        let status = self.child.wait().unwrap();
        let mut summary = String::new();
        self.out.read_to_string(&mut summary).unwrap();
        (status.success(), summary)
    }
}

/// Standard base64 (with padding): the mask bytes in the consumer's `--expect` lines.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
