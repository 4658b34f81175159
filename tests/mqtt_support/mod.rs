//! Test support: a private mosquitto on a free loopback port, `mosquitto_sub` /
//! `mosquitto_pub` clients, and TLS material made with `openssl`. Shared by
//! `tests/mqtt_*.rs` (and, through `#[path]`, by `plugins/tests/mqttsink_*.rs`).
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A client id no other test (or test run) uses: a shared id would let one test's
/// connection take over another's broker session.
pub fn unique_client_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A publisher configuration for tests: a unique client id, a spool of its own under
/// `dir`, and short reconnect backoffs so outages heal within a test's patience.
pub fn client_config(port: u16, stream: &str, dir: &Path) -> segstream::mqtt::MqttConfig {
    segstream::mqtt::MqttConfig {
        port,
        stream: stream.into(),
        client_id: unique_client_id(stream),
        spool: segstream::mqtt::SpoolConfig { dir: dir.join(format!("spool-{stream}")), ..Default::default() },
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..Default::default()
    }
}

/// A mosquitto process with a generated config in its own directory.
pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// Plain listener with persistence (sessions survive a restart).
    pub fn start(dir: &Path) -> Broker {
        Self::start_with(dir, free_port(), "")
    }

    /// `listener_extra` goes right after the `listener` line (e.g. TLS settings).
    pub fn start_with(dir: &Path, port: u16, listener_extra: &str) -> Broker {
        Self::start_access(dir, port, listener_extra, "allow_anonymous true")
    }

    /// Users from `password_file`, rights from `acl_file`, no anonymous clients.
    pub fn start_with_acl(dir: &Path, password_file: &Path, acl_file: &Path) -> Broker {
        let access = format!("allow_anonymous false\npassword_file {}\nacl_file {}", password_file.display(), acl_file.display());
        Self::start_access(dir, free_port(), "", &access)
    }

    fn start_access(dir: &Path, port: u16, listener_extra: &str, access: &str) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        // mosquitto started as root switches to user `mosquitto`, which cannot write the
        // persistence file in our private temp dir: stay the current user.
        let me = Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let user = me.map(|u| format!("user {u}\n")).unwrap_or_default();
        let text = format!(
            "{user}listener {port} 127.0.0.1\n{listener_extra}\n{access}\npersistence true\n\
             persistence_location {}/\nautosave_interval 1\nmax_queued_messages 0\n\
             log_dest file {}/mosquitto.log\nlog_type all\n",
            dir.display(),
            dir.display()
        );
        std::fs::write(&conf, text).unwrap();
        let mut b = Broker { port, dir: dir.to_path_buf(), conf, child: None };
        b.restart();
        b
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (apt install mosquitto)");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "mosquitto did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (mosquitto saves its persistence file) and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Waits (up to 10 s) until the broker log contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        let t0 = Instant::now();
        while !self.log().contains(needle) {
            assert!(t0.elapsed() < Duration::from_secs(10), "broker log never showed {needle:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `mosquitto_sub` collecting one line per message.
pub struct Sub {
    child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Sub {
    /// Persistent session (`-c -i id`) at QoS 1, so messages published while the
    /// subscriber is disconnected (e.g. across a broker restart) are queued for it.
    pub fn start(broker: &Broker, topic: &str, id: &str, extra: &[&str]) -> Sub {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-t", topic, "-q", "1", "-c", "-i", id])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is installed (apt install mosquitto-clients)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        // mosquitto_sub says nothing when subscribed: wait for the broker's SUBACK log line.
        broker.wait_log(&format!("Sending SUBACK to {id}\n"));
        Sub { child, lines }
    }

    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let t0 = Instant::now();
        while self.lines.lock().unwrap().len() < n && t0.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn mosquitto_pub(port: u16, topic: &str, message_file: &Path) {
    assert!(mosquitto_pub_as(port, &[], topic, message_file), "mosquitto_pub failed");
}

/// `mosquitto_pub` at QoS 1 (it returns once the broker acknowledged the message) with
/// extra arguments (e.g. `-u user -P password`); `true` when it succeeded.
pub fn mosquitto_pub_as(port: u16, extra: &[&str], topic: &str, message_file: &Path) -> bool {
    Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic, "-q", "1", "-f"])
        .arg(message_file)
        .args(extra)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Self-signed CA + server certificate for 127.0.0.1 (IP SAN), made with `openssl`.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_tls(dir: &Path) -> TlsFiles {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=segstream test CA",
    ]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    TlsFiles { ca: dir.join("ca.crt"), cert: dir.join("server.crt"), key: dir.join("server.key") }
}

/// Repository root (works from both crates' tests).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("plugins").is_dir() {
        here
    } else {
        here.parent().unwrap().to_path_buf()
    }
}

/// Validates JSON lines against a schema in `docs/schema/` with Python `jsonschema`.
pub fn validate_with_schema(schema: &str, lines: &[String], scratch: &Path) {
    let file = scratch.join(format!("{schema}.jsonl"));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let root = repo_root();
    let out = Command::new("python3")
        .arg(root.join("tests/consumers/validate.py"))
        .arg(root.join("docs/schema").join(schema))
        .arg(&file)
        .output()
        .expect("python3 is installed");
    assert!(out.status.success(), "schema {schema}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
pub mod consumer;
pub mod frames;
