//! `segstream bench`: where a frame's time goes. Streams a synthetic world video (rendered
//! in process, so disk and PNG decoding are not measured) through the segmenter and reports
//! each stage's mean / median / 95th percentile, throughput, the tracker's share of the
//! frame and resident memory.
use super::soak::{memory_kb, stream_world_as};
use crate::segmenter::{Segmenter, StageTiming};
use crate::world::World;
use std::time::Duration;

/// Latency of one stage over the measured frames (milliseconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageStats {
    pub stage: &'static str,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Frames measured (after `warmup` unmeasured ones).
    pub frames: usize,
    pub warmup: usize,
    /// 1000 / mean total ms: the frame rate if the stages ran one after another.
    pub fps: f64,
    /// Measured frames / the time the segmenter's calls took (world rendering excluded):
    /// the rate a stream sustains. With `encode_ahead` the encoder overlaps the rest.
    pub call_fps: f64,
    /// Whether the encoder ran one frame ahead on its own thread (`--encode-ahead`).
    pub encode_ahead: bool,
    pub stages: Vec<StageStats>,
    /// Tracker's own work (step minus decoder) / total, from the means.
    pub tracker_share: f64,
    /// Targets the tracker held per measured frame (the decoder's prompt rows).
    pub mean_targets: f64,
    /// The decoder on frames with detection and on the others (prompt rows only; the
    /// prompt-only decoder when the segmenter uses one): `(stats, frames)`, `None` when no
    /// measured frame was of that kind.
    pub decoder_detect: Option<(StageStats, usize)>,
    pub decoder_prompts: Option<(StageStats, usize)>,
    /// Whether frames without detection ran the bundle's prompt-only decoder.
    pub prompt_only_decoder: bool,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
}

/// Reads one stage's time from a frame's timings.
type StageTime = fn(&StageTiming) -> Duration;

/// The stages reported, in pipeline order; "tracker" excludes the decoder inside it.
const STAGES: [(&str, StageTime); 6] = [
    ("preprocess", |t| t.preprocess),
    ("encoder", |t| t.encode),
    ("decoder", |t| t.decode),
    ("tracker", |t| t.track.saturating_sub(t.decode)),
    ("postprocess", |t| t.postprocess),
    ("total", |t| t.total()),
];

/// Runs `warmup + frames` frames; the first `warmup` (engine warm-up, first detections)
/// are not measured. `ahead`: through `Segmenter::process_ahead`.
pub fn bench(seg: &mut Segmenter, world: &mut World, frames: usize, warmup: usize, ahead: bool) -> Result<BenchReport, String> {
    if frames == 0 {
        return Err("bench needs at least 1 measured frame".into());
    }
    let mut samples: Vec<StageTiming> = Vec::with_capacity(frames);
    let mut detected: Vec<bool> = Vec::with_capacity(frames);
    let mut targets = 0usize;
    let mut busy = Duration::ZERO;
    stream_world_as(seg, world, warmup + frames, ahead, |f, seg, took| {
        if f >= warmup {
            busy += took;
            samples.push(seg.last_timing());
            detected.push(seg.tracker_mut().detected_last_frame());
            targets += seg.tracker_mut().targets().len();
        }
    })?;
    let decoder_on = |want: bool| {
        let picked: Vec<StageTiming> = samples.iter().zip(&detected).filter(|(_, &d)| d == want).map(|(t, _)| *t).collect();
        (!picked.is_empty()).then(|| (stats("decoder", &picked, |t| t.decode), picked.len()))
    };
    let stages: Vec<StageStats> = STAGES.iter().map(|(name, get)| stats(name, &samples, *get)).collect();
    let mean = |name: &str| stages.iter().find(|s| s.stage == name).map_or(0.0, |s| s.mean_ms);
    let (rss_kb, peak_rss_kb) = memory_kb().unwrap_or((0, 0));
    Ok(BenchReport {
        frames,
        warmup,
        fps: 1e3 / mean("total").max(1e-9),
        call_fps: frames as f64 / busy.as_secs_f64().max(1e-9),
        encode_ahead: ahead,
        tracker_share: mean("tracker") / mean("total").max(1e-9),
        mean_targets: targets as f64 / frames as f64,
        decoder_detect: decoder_on(true),
        decoder_prompts: decoder_on(false),
        prompt_only_decoder: seg.prompt_only_decoder(),
        stages,
        rss_kb,
        peak_rss_kb,
    })
}

fn stats(stage: &'static str, samples: &[StageTiming], get: fn(&StageTiming) -> Duration) -> StageStats {
    let mut ms: Vec<f64> = samples.iter().map(|t| get(t).as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    StageStats { stage, mean_ms: ms.iter().sum::<f64>() / ms.len() as f64, p50_ms: pick(0.5), p95_ms: pick(0.95), max_ms: pick(1.0) }
}

/// Markdown table of a report (what the CLI prints).
pub fn table(r: &BenchReport) -> String {
    let mut s = String::from("| stage | mean ms | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|\n");
    let row =
        |name: &str, st: &StageStats| format!("| {name} | {:.2} | {:.2} | {:.2} | {:.2} |\n", st.mean_ms, st.p50_ms, st.p95_ms, st.max_ms);
    for st in &r.stages {
        s += &row(st.stage, st);
    }
    let graph = if r.prompt_only_decoder { "prompt-only decoder" } else { "full decoder" };
    for (split, what) in [(&r.decoder_detect, "detection frames".to_string()), (&r.decoder_prompts, format!("other frames, {graph}"))] {
        if let Some((st, n)) = split {
            s += &row(&format!("decoder on {n} {what}"), st);
        }
    }
    s += &format!(
        "\n{} frames (+{} warm-up): {:.1} fps (stages one after another), {:.1} fps sustained{}, tracker {:.1} % of a frame, {:.1} targets/frame, RSS {} kB (peak {} kB)\n",
        r.frames,
        r.warmup,
        r.fps,
        r.call_fps,
        if r.encode_ahead { " with the encoder one frame ahead" } else { "" },
        100.0 * r.tracker_share,
        r.mean_targets,
        r.rss_kb,
        r.peak_rss_kb
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(ms: u64) -> StageTiming {
        let d = Duration::from_millis(ms);
        StageTiming { preprocess: d, encode: 2 * d, track: 3 * d, decode: 2 * d, postprocess: d }
    }

    #[test]
    fn stats_are_percentiles_of_the_samples() {
        let samples: Vec<_> = (1..=20).map(timing).collect();
        let total = stats("total", &samples, |t| t.total());
        // total = 7 * ms for ms = 1..=20
        assert!((total.mean_ms - 7.0 * 10.5).abs() < 1e-9);
        assert_eq!(total.max_ms, 140.0);
        assert_eq!(total.p95_ms, 7.0 * 19.0);
        let tracker = stats("tracker", &samples, |t| t.track.saturating_sub(t.decode));
        assert!((tracker.mean_ms - 10.5).abs() < 1e-9, "{}", tracker.mean_ms);
    }
}
