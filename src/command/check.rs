//! The semantic step of command validation: values against limits and the stream's state.
use super::{AddTarget, Command, Request, Target};
use crate::rle::{self, Rle};
use crate::tracker::DETECT_INTERVAL_RANGE;
use std::collections::BTreeSet;

const MAX_POINTS: usize = 64;
const MAX_TEXT: usize = 256;
/// Largest mask side accepted. A mask is only ever checked in one pass over its counts
/// (`rle::validate`) and decoded at the model input size, so this bounds numbers, not work.
const MAX_MASK_SIDE: usize = 8192;

/// What the checker knows about the stream.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// Size of the last frame; `None` before the first frame.
    pub frame_size: Option<(usize, usize)>,
    /// Number of the last frame processed.
    pub frame: Option<u64>,
    /// Track ids that exist (present or recently lost).
    pub known_ids: BTreeSet<u64>,
}

impl Request {
    /// The semantic step: limits, geometry inside the frame, known ids. The error names
    /// the command and the cause; on error nothing has changed anywhere.
    pub fn check(&self, ctx: &CommandContext) -> Result<(), String> {
        let name = self.name();
        match &self.command {
            Command::AddTarget(a) => add_target(a, ctx),
            Command::AddTextTarget { text } => text_field("text", text),
            Command::RemoveTarget { track_id } if !ctx.known_ids.contains(track_id) => {
                let known: Vec<_> = ctx.known_ids.iter().take(20).collect();
                Err(format!("unknown track id {track_id} (known: {known:?})"))
            }
            Command::RemoveTarget { .. } => Ok(()),
            Command::SetVocabulary { names } => vocabulary(names),
            Command::SetDetectInterval { interval } if !DETECT_INTERVAL_RANGE.contains(interval) => {
                Err(format!("`interval` must be in {}..={}, got {interval}", DETECT_INTERVAL_RANGE.start(), DETECT_INTERVAL_RANGE.end()))
            }
            Command::SetDetectInterval { .. } => Ok(()),
        }
        .map_err(|e| format!("{name}: {e}"))
    }
}

fn add_target(a: &AddTarget, ctx: &CommandContext) -> Result<(), String> {
    let (w, h) = ctx.frame_size.ok_or("no frame has been processed yet, the frame size is unknown")?;
    if let (Some(fr), cur) = (a.frame, ctx.frame) {
        if cur.is_none_or(|cur| fr > cur) {
            let last = cur.map_or("none yet".into(), |c| c.to_string());
            return Err(format!("frame {fr} has not been processed yet (last frame: {last})"));
        }
    }
    if let Some(label) = &a.label {
        text_field("label", label)?;
    }
    match &a.target {
        Target::Box(b) => check_box(b, w, h),
        Target::Points(p) => points(p, w, h),
        Target::Mask(m) => mask(m),
    }
}

fn check_box(b: &[f32; 4], w: usize, h: usize) -> Result<(), String> {
    let [x, y, bw, bh] = *b;
    if b.iter().any(|v| !v.is_finite()) {
        return Err(format!("box [{x}, {y}, {bw}, {bh}] must hold finite numbers"));
    }
    if bw <= 0.0 || bh <= 0.0 {
        return Err(format!("box [{x}, {y}, {bw}, {bh}] has no area"));
    }
    if x < 0.0 || y < 0.0 || x + bw > w as f32 || y + bh > h as f32 {
        return Err(format!("box [{x}, {y}, {bw}, {bh}] is outside the {w}x{h} frame"));
    }
    Ok(())
}

fn points(p: &[[f32; 2]], w: usize, h: usize) -> Result<(), String> {
    if p.is_empty() || p.len() > MAX_POINTS {
        return Err(format!("`points` must hold 1..={MAX_POINTS} points, got {}", p.len()));
    }
    for &[x, y] in p {
        if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
            return Err(format!("point [{x}, {y}] is outside the {w}x{h} frame"));
        }
    }
    Ok(())
}

fn mask(rle: &Rle) -> Result<(), String> {
    let [mh, mw] = rle.size;
    if mh == 0 || mw == 0 || mh > MAX_MASK_SIDE || mw > MAX_MASK_SIDE {
        return Err(format!("mask size [{mh}, {mw}] must be within 1..={MAX_MASK_SIDE}"));
    }
    match rle::validate(rle) {
        Ok(0) => Err("mask is empty".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("mask: {e}")),
    }
}

fn text_field(key: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.len() > MAX_TEXT {
        return Err(format!("`{key}` must be a non-empty string of at most {MAX_TEXT} bytes"));
    }
    Ok(())
}

/// Names are checked here with the same limits the segmenter applies, so a refusal comes
/// back at once instead of from the streaming thread.
fn vocabulary(names: &[String]) -> Result<(), String> {
    let max = crate::segmenter::MAX_NAMES;
    if names.len() > max {
        return Err(format!("`names` must hold at most {max} names (an empty list restores the bundle's), got {}", names.len()));
    }
    let mut seen = BTreeSet::new();
    for n in names {
        if n.trim().is_empty() || n.len() > MAX_TEXT {
            return Err(format!("names must be non-empty strings of at most {MAX_TEXT} bytes"));
        }
        if !seen.insert(n.trim()) {
            return Err(format!("duplicate name `{n}`"));
        }
    }
    Ok(())
}
