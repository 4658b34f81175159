//! Standard result formats written by `segstream eval` (and read back to score them):
//! - YouTube-VIS results JSON: `[{"video_id", "category_id", "score", "segmentations": [RLE|null]}]`;
//! - MOTS (MOTChallenge) text, one line per object and frame:
//!   `<frame, 1-based> <track id> <category id> <height> <width> <COCO RLE counts>`;
//! - VOS per-object RLE JSON: `{"<video id>": {"<object id>": [RLE|null, ...]}}`;
//! - per-frame results JSON (what a stream consumer receives, frame by frame):
//!   `[{"video_id", "frame" (0-based), "track_id", "category_id", "score", "segmentation": RLE}]`.
use crate::mask::Mask;
use crate::rle::{self, Rle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One predicted track in YouTube-VIS results format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisResult {
    pub video_id: u64,
    pub category_id: u64,
    pub score: f64,
    pub segmentations: Vec<Option<Rle>>,
}

/// One MOTS line.
#[derive(Debug, Clone, PartialEq)]
pub struct MotsRow {
    /// 0-based here; written 1-based.
    pub frame: usize,
    pub track_id: u64,
    pub category_id: u64,
    pub rle: Rle,
}

/// One object of one frame as the pipeline emitted it: the class and score are the
/// tracker's on that frame (online, from past frames only), unlike `VisResult`, which
/// gives a whole track one class after the video has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameResult {
    pub video_id: u64,
    pub frame: usize,
    pub track_id: u64,
    pub category_id: u64,
    pub score: f64,
    pub segmentation: Rle,
}

/// VOS predictions: video id -> object id -> per-frame mask.
pub type VosResults = BTreeMap<u64, BTreeMap<u64, Vec<Option<Rle>>>>;

/// Errors reading or writing result files; messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

fn err(path: &Path, msg: impl ToString) -> FormatError {
    FormatError::File { path: path.display().to_string(), msg: msg.to_string() }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), FormatError> {
    let s = serde_json::to_string(value).map_err(|e| err(path, e))?;
    std::fs::write(path, s).map_err(|e| err(path, e))
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, FormatError> {
    let s = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
    serde_json::from_str(&s).map_err(|e| err(path, e))
}

pub fn write_mots(path: &Path, rows: &[MotsRow]) -> Result<(), FormatError> {
    let mut s = String::new();
    for r in rows {
        let [h, w] = r.rle.size;
        s.push_str(&format!("{} {} {} {} {} {}\n", r.frame + 1, r.track_id, r.category_id, h, w, r.rle.counts));
    }
    std::fs::write(path, s).map_err(|e| err(path, e))
}

pub fn read_mots(path: &Path) -> Result<Vec<MotsRow>, FormatError> {
    let s = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
    s.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| parse_mots_line(l).map_err(|m| err(path, format!("line {}: {m}", n + 1))))
        .collect()
}

fn parse_mots_line(l: &str) -> Result<MotsRow, String> {
    let f: Vec<&str> = l.split_whitespace().collect();
    if f.len() != 6 {
        return Err(format!("expected 6 fields, got {}", f.len()));
    }
    let num = |i: usize| f[i].parse::<u64>().map_err(|e| format!("field {}: {e}", i + 1));
    let frame = num(0)?;
    if frame == 0 {
        return Err("frames are 1-based".into());
    }
    let rle = Rle { size: [num(3)? as usize, num(4)? as usize], counts: f[5].to_string() };
    Ok(MotsRow { frame: frame as usize - 1, track_id: num(1)?, category_id: num(2)?, rle })
}

/// Decodes an optional RLE (errors name the cause).
pub fn decode(r: &Option<Rle>) -> Result<Option<Mask>, String> {
    r.as_ref().map(|r| rle::decode(r).map_err(|e| e.to_string())).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mots_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        let mut m = Mask::new(5, 4);
        m.set(1, 2, true);
        let rows = vec![MotsRow { frame: 0, track_id: 7, category_id: 2, rle: rle::encode(&m) }];
        write_mots(&p, &rows).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().starts_with("1 7 2 4 5 "));
        assert_eq!(read_mots(&p).unwrap(), rows);
        std::fs::write(&p, "0 1 1 4 5 abc\n").unwrap();
        let e = read_mots(&p).unwrap_err().to_string();
        assert!(e.contains("a.txt") && e.contains("line 1") && e.contains("1-based"), "{e}");
    }
}
