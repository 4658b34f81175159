//! The on-disk spool against a real full file system (a 64 KiB tmpfs mounted in a private
//! mount namespace made with `unshare`, reached through `/proc/<pid>/root`) and against
//! file names a previous run or a person left in the spool directory.
mod mqtt_support;

use mqtt_support::*;
use segstream::mqtt::spool::Spool;
use segstream::mqtt::{MqttConfig, Publisher, SpoolConfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A small tmpfs that only this test sees; unmounted when the namespace's process ends.
struct SmallFs {
    child: Child,
    dir: PathBuf,
}

impl SmallFs {
    fn mount(host_dir: &Path, kib: u32) -> SmallFs {
        std::fs::create_dir_all(host_dir).unwrap();
        let mut child = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o size="$1"k tmpfs "$0" && echo ready && exec sleep 600"#)
            .arg(host_dir)
            .arg(kib.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) is installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "could not mount a tmpfs in a user namespace");
        let dir = PathBuf::from(format!("/proc/{}/root", child.id())).join(host_dir.strip_prefix("/").unwrap());
        SmallFs { child, dir }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(n: u32) -> Vec<u8> {
    let mut p = n.to_le_bytes().to_vec();
    p.resize(3000, b'.');
    p
}

fn spooled_numbers(dir: &Path) -> Vec<u32> {
    let mut s = Spool::open(SpoolConfig { dir: dir.to_path_buf(), max_bytes: 1 << 30, max_age: Duration::from_secs(3600) }).unwrap();
    let mut got = Vec::new();
    while let (Some(item), 0) = s.front() {
        got.push(u32::from_le_bytes(item.payload[..4].try_into().unwrap()));
        s.pop_front();
    }
    got
}

/// The byte limit is far above the disk's size: the disk fills first. The documented
/// policy holds anyway: the oldest go, every new message is kept, a warning says why, and
/// no partial (`.tmp`) file is left.
#[test]
fn full_disk_drops_the_oldest_and_keeps_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = SmallFs::mount(&tmp.path().join("mnt"), 64);
    let spool_dir = fs.dir.join("spool");
    let cfg = MqttConfig {
        port: free_port(), // no broker: everything is spooled
        stream: "full".into(),
        client_id: unique_client_id("full"),
        spool: SpoolConfig { dir: spool_dir.clone(), max_bytes: 64 << 20, max_age: Duration::from_secs(3600) },
        ..Default::default()
    };
    let p = Publisher::start(&cfg).unwrap();
    let n = 60;
    for i in 0..n {
        assert!(p.publish_frame(payload(i)));
    }
    let t0 = Instant::now();
    while p.counters().spooled + p.counters().dropped < 2 * n as u64 - p.spool_usage().0 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = p.counters();
    let kept = p.spool_usage().0;
    let warnings = p.take_warnings().join("\n");
    drop(p);
    assert_eq!(c.spooled, n as u64, "every new message is stored: {c:?}");
    assert!(kept > 3 && kept < n as u64, "kept {kept}");
    assert_eq!(c.dropped, n as u64 - kept, "{c:?}");
    assert!(warnings.contains("is full") && warnings.contains("oldest"), "{warnings}");
    let names: Vec<String> = std::fs::read_dir(&spool_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(names.iter().all(|n| n.ends_with(".msg")), "{names:?}");
    assert_eq!(spooled_numbers(&spool_dir), (n - kept as u32..n).collect::<Vec<_>>(), "the newest, in order");
}

/// A spool file at the top of the sequence range (`u64::MAX`) must not make the next
/// message wrap to 0 and overwrite the oldest one.
#[test]
fn sequence_number_at_the_top_neither_wraps_nor_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig { dir: tmp.path().to_path_buf(), max_bytes: 1 << 20, max_age: Duration::from_secs(3600) };
    {
        let mut s = Spool::open(cfg.clone()).unwrap();
        s.push("t", &payload(0)).unwrap();
        s.push("t", &payload(1)).unwrap();
    }
    let top = tmp.path().join(format!("{}.msg", u64::MAX));
    std::fs::rename(tmp.path().join(format!("{:020}.msg", 1)), &top).unwrap();
    {
        let mut s = Spool::open(cfg.clone()).unwrap();
        assert_eq!(s.len(), 2);
        s.push("t", &payload(2)).unwrap();
        s.push("t", &payload(3)).unwrap();
    }
    assert_eq!(spooled_numbers(tmp.path()), [0, 1, 2, 3]);
}
