//! Bounded on-disk store-and-forward queue.
//!
//! One file per message (`<seq:020>.msg`, written to a temporary name and renamed, so a
//! crash never leaves a half message), read back in sequence order. Limits: total bytes
//! on disk and age; when either is exceeded the OLDEST messages go first and are counted
//! by the caller; a full disk is handled the same way (the oldest go until the new one
//! fits). Files left by a previous run are picked up at `open`, so messages also survive a
//! pipeline restart. Only a small index lives in memory.
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 4] = b"SSP1";
const HEADER: usize = 4 + 8 + 2;
/// Sequence numbers found at `open` above this are renumbered from 0 (keeping their
/// order), so `next_seq` can never wrap around and overwrite a message.
const RENUMBER_ABOVE: u64 = 1 << 62;
/// Digits of a spool file's sequence number (`u64::MAX` has 20).
const SEQ_DIGITS: usize = 20;

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { dir: std::env::temp_dir().join("segstream-spool"), max_bytes: 64 * 1024 * 1024, max_age: Duration::from_secs(3600) }
    }
}

struct Entry {
    seq: u64,
    bytes: u64,
    created_ms: u64,
}

/// Outcome of [`Spool::push`]: `stored` is false when the message alone exceeds the limit
/// (or the disk is full even with the spool emptied); `evicted` oldest messages were
/// dropped to make room; `disk_full`: the file system refused the write at least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    pub stored: bool,
    pub evicted: usize,
    pub disk_full: bool,
}

/// A spooled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub topic: String,
    pub payload: Vec<u8>,
}

pub struct Spool {
    cfg: SpoolConfig,
    index: VecDeque<Entry>,
    total: u64,
    next_seq: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

impl Spool {
    /// Opens (creating) the directory and indexes messages a previous run left there.
    pub fn open(cfg: SpoolConfig) -> io::Result<Spool> {
        fs::create_dir_all(&cfg.dir).map_err(|e| io::Error::new(e.kind(), format!("spool directory {}: {e}", cfg.dir.display())))?;
        let mut found = Vec::new();
        for ent in fs::read_dir(&cfg.dir)? {
            let path = ent?.path();
            match seq_of(&path).and_then(|s| read_header(&path).ok().map(|h| (s, h))) {
                Some((seq, (created_ms, bytes))) => found.push(Entry { seq, bytes, created_ms }),
                None if path.extension().is_some_and(|e| e == "tmp") => {
                    let _ = fs::remove_file(&path);
                }
                None => {}
            }
        }
        found.sort_by_key(|e| e.seq);
        if found.last().is_some_and(|e| e.seq > RENUMBER_ABOVE) {
            renumber(&cfg.dir, &mut found)?;
        }
        let next_seq = found.last().map_or(0, |e| e.seq + 1);
        let total = found.iter().map(|e| e.bytes).sum();
        Ok(Spool { cfg, index: found.into(), total, next_seq })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// Bytes on disk (headers included).
    pub fn bytes(&self) -> u64 {
        self.total
    }
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Appends a message, evicting the oldest ones to make room: for the byte limit, and
    /// when the file system is full (the documented policy is the same for both).
    pub fn push(&mut self, topic: &str, payload: &[u8]) -> io::Result<Pushed> {
        let bytes = (HEADER + topic.len() + payload.len()) as u64;
        if bytes > self.cfg.max_bytes {
            return Ok(Pushed { stored: false, evicted: 0, disk_full: false });
        }
        let mut out = Pushed { stored: false, evicted: 0, disk_full: false };
        while self.total + bytes > self.cfg.max_bytes && !self.index.is_empty() {
            self.pop_front();
            out.evicted += 1;
        }
        let seq = self.next_seq;
        let next = seq.checked_add(1).ok_or_else(|| io::Error::other("spool sequence numbers exhausted"))?;
        let created_ms = now_ms();
        let buf = encode(created_ms, topic, payload);
        loop {
            match self.write(seq, &buf) {
                Ok(()) => break,
                Err(e) if is_disk_full(&e) => {
                    out.disk_full = true;
                    if self.index.is_empty() {
                        return Ok(out); // full even without our files: the new one is lost
                    }
                    self.pop_front();
                    out.evicted += 1;
                }
                Err(e) if out.evicted > 0 => {
                    tracing::warn!(target: "segstream::mqtt", "spool write failed in {}: {e}", self.cfg.dir.display());
                    return Ok(out);
                }
                Err(e) => return Err(e),
            }
        }
        self.next_seq = next;
        self.total += bytes;
        self.index.push_back(Entry { seq, bytes, created_ms });
        out.stored = true;
        Ok(out)
    }

    /// Writes one message atomically (temporary name, then rename); a failed write
    /// leaves no file behind.
    fn write(&self, seq: u64, buf: &[u8]) -> io::Result<()> {
        let tmp = self.cfg.dir.join(format!("{seq:020}.tmp"));
        let res = fs::write(&tmp, buf).and_then(|()| fs::rename(&tmp, self.path(seq)));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Oldest message, read from disk; unreadable files are skipped (and counted).
    pub fn front(&mut self) -> (Option<Item>, usize) {
        let mut bad = 0;
        while let Some(e) = self.index.front() {
            match read_item(&self.path(e.seq)) {
                Ok(item) => return (Some(item), bad),
                Err(_) => {
                    self.pop_front();
                    bad += 1;
                }
            }
        }
        (None, bad)
    }

    /// Removes the oldest message.
    pub fn pop_front(&mut self) {
        if let Some(e) = self.index.pop_front() {
            let _ = fs::remove_file(self.path(e.seq));
            self.total -= e.bytes;
        }
    }

    /// Drops messages older than `max_age`; returns how many.
    pub fn expire(&mut self) -> usize {
        let limit = now_ms().saturating_sub(self.cfg.max_age.as_millis() as u64);
        let mut n = 0;
        while self.index.front().is_some_and(|e| e.created_ms < limit) {
            self.pop_front();
            n += 1;
        }
        n
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.cfg.dir.join(format!("{seq:020}.msg"))
    }
}

fn encode(created_ms: u64, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + topic.len() + payload.len());
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&created_ms.to_le_bytes());
    buf.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    buf.extend_from_slice(topic.as_bytes());
    buf.extend_from_slice(payload);
    buf
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge)
}

/// Sequence number of a spool file name (`<20 digits>.msg`); other names are not ours.
fn seq_of(path: &Path) -> Option<u64> {
    let digits = path.file_name()?.to_str()?.strip_suffix(".msg")?;
    (digits.len() == SEQ_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// Renames the files (sorted by sequence) to 0, 1, 2, ... in order. Each target name is
/// free: it is below the file's own number and above every name already given, so an
/// interrupted renumbering still leaves a correctly ordered spool.
fn renumber(dir: &Path, found: &mut [Entry]) -> io::Result<()> {
    let path = |seq: u64| dir.join(format!("{seq:020}.msg"));
    for (i, e) in found.iter_mut().enumerate() {
        let i = i as u64;
        if e.seq != i {
            fs::rename(path(e.seq), path(i))?;
            e.seq = i;
        }
    }
    Ok(())
}

fn read_header(path: &Path) -> io::Result<(u64, u64)> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    let mut h = [0u8; HEADER];
    f.read_exact(&mut h)?;
    if &h[..4] != MAGIC {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a spool file"));
    }
    let created = u64::from_le_bytes(h[4..12].try_into().unwrap());
    Ok((created, f.metadata()?.len()))
}

fn read_item(path: &Path) -> io::Result<Item> {
    let b = fs::read(path)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "corrupt spool file");
    if b.len() < HEADER || &b[..4] != MAGIC {
        return Err(bad());
    }
    let tl = u16::from_le_bytes([b[12], b[13]]) as usize;
    let topic = b.get(HEADER..HEADER + tl).ok_or_else(bad)?;
    let topic = String::from_utf8(topic.to_vec()).map_err(|_| bad())?;
    Ok(Item { topic, payload: b[HEADER + tl..].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, max_bytes: u64, max_age: Duration) -> SpoolConfig {
        SpoolConfig { dir: dir.to_path_buf(), max_bytes, max_age }
    }

    fn dir_bytes(dir: &Path) -> u64 {
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
    }

    #[test]
    fn fifo_order_and_survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(cfg(d.path(), 1 << 20, Duration::from_secs(60))).unwrap();
        for i in 0..5 {
            assert_eq!(s.push("t", format!("m{i}").as_bytes()).unwrap(), Pushed { stored: true, evicted: 0, disk_full: false });
        }
        s.pop_front();
        drop(s);
        let mut s = Spool::open(cfg(d.path(), 1 << 20, Duration::from_secs(60))).unwrap();
        assert_eq!(s.len(), 4);
        let mut got = Vec::new();
        while let (Some(it), 0) = s.front() {
            got.push(String::from_utf8(it.payload).unwrap());
            s.pop_front();
        }
        assert_eq!(got, ["m1", "m2", "m3", "m4"]);
        s.push("t", b"after").unwrap();
        assert_eq!(s.front().0.unwrap().payload, b"after");
    }

    #[test]
    fn byte_limit_drops_oldest_and_disk_stays_within_limit() {
        let d = tempfile::tempdir().unwrap();
        let limit = 10 * (HEADER as u64 + 1 + 100);
        let mut s = Spool::open(cfg(d.path(), limit, Duration::from_secs(60))).unwrap();
        let mut dropped = 0;
        for i in 0..25u8 {
            dropped += s.push("t", &[i; 100]).unwrap().evicted;
            assert!(dir_bytes(d.path()) <= limit);
        }
        assert_eq!(dropped, 15);
        assert_eq!(s.len(), 10);
        assert_eq!(s.front().0.unwrap().payload, vec![15u8; 100]);
        assert_eq!(s.push("t", &[0; 5000]).unwrap(), Pushed { stored: false, evicted: 0, disk_full: false }, "oversized");
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn age_limit_expires_oldest() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::open(cfg(d.path(), 1 << 20, Duration::from_millis(50))).unwrap();
        s.push("t", b"old").unwrap();
        std::thread::sleep(Duration::from_millis(120));
        s.push("t", b"new").unwrap();
        assert_eq!(s.expire(), 1);
        assert_eq!(s.front().0.unwrap().payload, b"new");
    }
}
