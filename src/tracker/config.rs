//! Every threshold of the tracker, with the reference code's defaults.
//!
//! Values marked "ref" come from the UniVS reference code (VIS setting, see
//! docs STREAMING_INFERENCE.md); values marked "ours" are for the lifecycle the
//! reference lacks and were chosen here (the reason is in each comment).

/// How targets are followed from frame to frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackerMode {
    /// UniVS: every target is decoded as a prompt query from its memory pool; periodic
    /// detection only adds targets and refreshes embeddings.
    #[default]
    PromptQuery,
    /// Baseline of UniVS table 3b: detection on every frame, association by cosine of
    /// query embeddings + Hungarian only. No prompt queries are decoded.
    Similarity,
}

/// Which mask a target shows on a frame where it was decoded from its prompt AND matched a
/// detection (the reference keeps the prompt query's; the others are measured options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedMask {
    /// The prompt query's mask (reference: detection only refreshes embeddings).
    #[default]
    Prompt,
    /// The matched detection's mask.
    Detection,
    /// The mean of the two logit maps (two decodes of one object, averaged).
    Mean,
    /// Whichever of the two has the higher mask quality q.
    Best,
}

/// Tracker configuration (all fields public; `Default` gives the reference values).
/// Deserialisable with every field optional (`TrackerConfig::from_overrides`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Which tracker runs.
    pub mode: TrackerMode,
    /// Decode the learnable queries every N frames (ref 1); also on every frame without an
    /// active target. 0 = never (prompt-specified mode: only user targets are followed).
    /// Ignored in `Similarity` mode, which detects on every frame.
    pub detect_interval: u32,
    /// Detections with mask quality q = #(logit>1)/#(logit>-1) at or below this are dropped (ref 0.5).
    pub quality_threshold: f32,
    /// Keep at most this many detections by score = class prob * q (ref 35-50).
    pub top_k: usize,
    /// NMS on mask-derived boxes: drop a detection whose box IoU with a better one exceeds this (ref 0.85 VIS).
    pub nms_iou: f32,
    /// Bi-softmax association threshold tau (ref 0.1 VIS, 0.05 VPS).
    pub assoc_tau: f32,
    /// Ours: a bi-softmax match also needs cosine(target, detection) above this. Bi-softmax
    /// alone gives 1.0 to a lone pair however dissimilar, which would hand an occluded
    /// target's identity to a new object.
    pub match_min_cosine: f32,
    /// Ours: a target present through its own prompt query matches only a detection whose
    /// mask overlaps its mask (IoU >= this; 0 = no check). Embeddings alone let a
    /// look-alike object elsewhere in the frame (same texture, same shape) be "explained"
    /// by a target that is already segmented, and a matched detection never starts a
    /// target, so the look-alike was never found (docs/TRACKING.md).
    pub match_min_iou: f32,
    /// A detection may start a new target only above this score (ref 0.25).
    pub score_threshold: f32,
    /// ... and only when its mask IoU with every present target is below this (ref 0.5).
    pub birth_max_iou: f32,
    /// Prompt-query output of a detection-born target kept only when its weighted cosine to
    /// the memory embeddings exceeds this (ref 0.25 VIS, 0.05 VPS; user targets: below).
    pub consistency_threshold: f32,
    /// The same check for user-given (prompt-specified, VOS) targets: the reference's VOS
    /// value 0.5, stricter because a user target has no detector to recover it if it drifts.
    pub prompt_consistency_threshold: f32,
    /// After per-pixel overlap resolution a target keeps its mask only if it retains more
    /// than this fraction of its area (ref 0.5). The rule removes duplicates of one object
    /// among detection-born targets.
    pub keep_area_fraction: f32,
    /// The same for user-given targets (ours: 0, keep whatever pixels they win, as VOS
    /// methods do with their per-pixel argmax): the user asked for that object, and a
    /// user target is never a duplicate; dropping it whole whenever a neighbour's mask
    /// grows over it was where most of the lost VOS J&F went (docs/TRACKING.md).
    pub user_keep_area_fraction: f32,
    /// Ours: in overlap resolution a user-given target weighs 1 (the per-pixel argmax of
    /// mask probabilities VOS methods use) instead of the reference's class prob x
    /// similarity x quality. The quality term q = #(logit > 1) / #(logit > -1) is low for
    /// any small mask (most of its cells are boundary), so an object given while small lost
    /// its pixels to a large neighbour whose mask spread over it (docs/TRACKING.md).
    pub user_logit_argmax: bool,
    /// Whether a detection-born target's overlap weight includes its mask quality q
    /// (reference: true; ours: false, weight = class prob x similarity). q is low for any
    /// small mask (most of its cells are boundary), so a large target whose mask spread over
    /// a small object in front took the small one's pixels, and the small target, left with
    /// under half its area, was dropped on every frame (docs/TRACKING.md).
    pub overlap_quality: bool,
    /// Ours: a user target given on an object that a detection-born target already follows
    /// (mask IoU >= this on the frame it is given) replaces that target, so one object has
    /// one identity and no duplicate competes for its pixels (0.5, the birth rule's "same
    /// object" threshold; above 1 = never).
    pub user_replaces_iou: f32,
    /// Ours: a detection whose mask has two or more connected parts of at least this many
    /// 1/4-resolution cells starts one target per part (0 = never). The detector sometimes
    /// segments two look-alike objects with one query; as one target the second object is
    /// never found, as two the prompt queries follow each (tracker/parts.rs).
    pub split_min_cells: usize,
    /// ... and only when the parts' boxes are at least this many cells apart (ours): parts
    /// close together are more likely one object cut by an occluder than two objects.
    pub split_min_gap: usize,
    /// Prompt tokens sampled per frame from a target's mask, R (ref 32).
    pub tokens_per_frame: usize,
    /// FIFO window of recent frames in the memory pool, M (ref 5); plus one pinned frame.
    pub memory_frames: usize,
    /// Association embeddings remembered per target for bi-softmax / consistency (ref 3).
    pub assoc_memory: usize,
    /// Running-mean window of the target embedding and class embedding (ours: 10 frames, so
    /// the mean follows slow appearance changes yet smooths single-frame noise).
    pub mean_window: u32,
    /// Ours: each frame's class embedding enters the class running mean with weight
    /// area^p (area = the target's final mask in 1/4-resolution cells), so frames that saw
    /// more of the object count more; 0 = every frame the same (the reference's mean).
    pub class_area_power: f32,
    /// Mask of a target that has both a prompt-query output and a matched detection.
    pub matched_mask: MatchedMask,
    /// Similarity mode: accept a match when the cosine exceeds this (ours 0.5).
    pub similarity_threshold: f32,
    /// Ours: a tentative target is confirmed after this many frames with a mask (2: one
    /// spurious detection never becomes a confirmed identity).
    pub confirm_frames: u32,
    /// Ours: a confirmed target becomes lost after this many consecutive frames without a
    /// mask (1: "lost" means "not found on the current frame").
    pub lost_after: u32,
    /// Ours: a lost target is forgotten after this many consecutive frames without a mask
    /// (50, 2 s at 25 fps: long enough to re-identify through a typical occlusion).
    pub max_age: u32,
    /// Hard cap on remembered targets (all states); also bounds the prompt batch P, so keep it
    /// <= the bundle's `max_prompts` (32 for the tiny bundle).
    pub max_targets: usize,
    /// Return tentative targets from `step` too (their `state` says so).
    pub emit_tentative: bool,
    /// Seed of the visual sampler's RNG: a given input sequence always gives the same output.
    pub seed: u64,
}

/// Accepted values of `detect_interval`, for every way of setting it (the `segment`
/// element's property and the `set_detect_interval` command). 0: never detect.
pub const DETECT_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 0..=10_000;

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            mode: TrackerMode::PromptQuery,
            detect_interval: 1,
            quality_threshold: 0.5,
            top_k: 50,
            nms_iou: 0.85,
            assoc_tau: 0.1,
            match_min_cosine: 0.25,
            match_min_iou: 0.3,
            score_threshold: 0.25,
            birth_max_iou: 0.5,
            consistency_threshold: 0.25,
            prompt_consistency_threshold: 0.5,
            keep_area_fraction: 0.5,
            user_keep_area_fraction: 0.0,
            user_logit_argmax: true,
            overlap_quality: false,
            user_replaces_iou: 0.5,
            split_min_cells: 8,
            split_min_gap: 4,
            tokens_per_frame: 32,
            memory_frames: 5,
            assoc_memory: 3,
            mean_window: 10,
            class_area_power: 0.0,
            matched_mask: MatchedMask::Prompt,
            similarity_threshold: 0.5,
            confirm_frames: 2,
            lost_after: 1,
            max_age: 50,
            max_targets: 32,
            emit_tentative: true,
            seed: 0x5E65_7EA3,
        }
    }
}

impl TrackerConfig {
    /// The defaults with `key=value` overrides (field names as in this struct, values in
    /// TOML syntax, e.g. `consistency_threshold=0.3`, `mode="similarity"`); unknown keys
    /// and wrong types are errors that name them.
    pub fn from_overrides(pairs: &[String]) -> Result<TrackerConfig, String> {
        let text: String = pairs.iter().map(|p| format!("{p}\n")).collect();
        let cfg: TrackerConfig = toml::from_str(&text).map_err(|e| format!("tracker settings: {}", e.message()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that would make the procedure meaningless; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.tokens_per_frame == 0 {
            return Err("tracker: tokens_per_frame must be >= 1".into());
        }
        if self.assoc_memory == 0 {
            return Err("tracker: assoc_memory must be >= 1".into());
        }
        if self.max_targets == 0 {
            return Err("tracker: max_targets must be >= 1".into());
        }
        if !(0.0..=4.0).contains(&self.class_area_power) {
            return Err("tracker: class_area_power must be in 0..=4".into());
        }
        if self.mean_window == 0 {
            return Err("tracker: mean_window must be >= 1".into());
        }
        Ok(())
    }

    /// Prompt tokens per target row: pinned frame + FIFO window.
    pub fn tokens_per_target(&self) -> usize {
        (self.memory_frames + 1) * self.tokens_per_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_fields_and_reject_unknown_keys_and_bad_values() {
        let cfg = TrackerConfig::from_overrides(&["consistency_threshold=0.3".into(), "mode=\"similarity\"".into()]).unwrap();
        assert_eq!(cfg.consistency_threshold, 0.3);
        assert_eq!(cfg.mode, TrackerMode::Similarity);
        assert_eq!(cfg.score_threshold, TrackerConfig::default().score_threshold, "untouched fields keep the default");
        let e = TrackerConfig::from_overrides(&["consistency=0.3".into()]).unwrap_err();
        assert!(e.contains("consistency"), "{e}");
        let e = TrackerConfig::from_overrides(&["top_k=\"many\"".into()]).unwrap_err();
        assert!(e.contains("tracker settings"), "{e}");
        let e = TrackerConfig::from_overrides(&["tokens_per_frame=0".into()]).unwrap_err();
        assert!(e.contains("tokens_per_frame"), "{e}");
    }
}
