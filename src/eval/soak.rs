//! Long-stream check: runs the segmenter on a synthetic world stream (frames rendered in
//! process, no files) and samples the process's resident memory, to show that state stays
//! bounded (peak RSS at frame 1 000 and at frame 10 000 should agree within a few %).
use crate::segmenter::{FrameRef, PixelFormat, Segmenter, SegmenterError};
use crate::world::World;
use std::time::{Duration, Instant};

/// Memory at one checkpoint, from /proc/self/status (kB).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MemSample {
    pub frame: usize,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
    /// Targets the tracker remembers and its memory-pool size (f32 values) at that frame.
    pub targets: usize,
    pub pool_floats: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    pub frames: usize,
    pub mean_frame_ms: f64,
    pub samples: Vec<MemSample>,
}

/// Reads VmRSS and VmHWM (kB); `None` off Linux.
pub fn memory_kb() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| s.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok();
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Streams `frames` frames of `world` through `seg` (after a reset), calling `after(i, seg)`
/// once frame `i` (0-based) is processed. The RGB buffer is allocated once.
pub fn stream_world(
    seg: &mut Segmenter,
    world: &mut World,
    frames: usize,
    mut after: impl FnMut(usize, &mut Segmenter),
) -> Result<(), String> {
    stream_world_as(seg, world, frames, false, |f, seg, _| after(f, seg))
}

/// [`stream_world`], optionally encoding one frame ahead (`Segmenter::process_ahead`:
/// `after` then sees each frame one call later, the last one after `finish_ahead`).
/// `after` also gets the time the segmenter's call took (rendering excluded).
pub fn stream_world_as(
    seg: &mut Segmenter,
    world: &mut World,
    frames: usize,
    ahead: bool,
    mut after: impl FnMut(usize, &mut Segmenter, Duration),
) -> Result<(), String> {
    let (w, h) = (world.config().width, world.config().height);
    let mut rgb = vec![0u8; w * h * 3];
    let mut truth = Default::default();
    seg.reset();
    for f in 0..frames {
        world.render_into(f as u64, &mut rgb, &mut truth).map_err(|e| e.to_string())?;
        let frame = FrameRef { format: PixelFormat::Rgb, width: w, height: h, planes: [&rgb, &[], &[]], strides: [w * 3, 0, 0] };
        let t = Instant::now();
        let err = |e: SegmenterError| format!("frame {f}: {e}");
        if !ahead {
            seg.process(&frame, f as u64).map_err(err)?;
            after(f, seg, t.elapsed());
        } else if let Some((r, _)) = seg.process_ahead(&frame, f as u64).map_err(err)? {
            let done = r.frame as usize;
            after(done, seg, t.elapsed());
        }
    }
    let t = Instant::now();
    if let Some((r, _)) = seg.finish_ahead().map_err(|e| format!("last frame: {e}"))? {
        let done = r.frame as usize;
        after(done, seg, t.elapsed());
    }
    Ok(())
}

/// Runs `frames` frames of `world` through `seg`, sampling memory at `checkpoints` (1-based
/// frame counts).
pub fn soak(seg: &mut Segmenter, world: &mut World, frames: usize, checkpoints: &[usize]) -> Result<SoakReport, String> {
    let mut samples = Vec::new();
    let mut busy = 0.0;
    stream_world(seg, world, frames, |f, seg| {
        busy += seg.last_timing().total().as_secs_f64();
        if checkpoints.contains(&(f + 1)) {
            let (rss_kb, peak_rss_kb) = memory_kb().unwrap_or((0, 0));
            let tr = seg.tracker_mut();
            samples.push(MemSample { frame: f + 1, rss_kb, peak_rss_kb, targets: tr.targets().len(), pool_floats: tr.memory_footprint() });
        }
    })?;
    Ok(SoakReport { frames, mean_frame_ms: busy * 1e3 / frames.max(1) as f64, samples })
}
