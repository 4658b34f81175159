//! The per-frame procedure (STREAMING_INFERENCE.md, "Category-specified video tasks").
use super::associate::{bi_softmax, cosine, match_by_similarity, weighted_cosine};
use super::detect::{self, binarize, classify, mask_quality, Detection};
use super::memory::MemoryPool;
use super::overlap::{resolve, Claim};
use super::sampler::{box_mask, points_mask};
use super::target::{Source, Target};
use super::{MatchedMask, TargetPrompt, Track, TrackState, Tracker, TrackerMode};
use crate::mask::{BBox, Mask};
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, QueryOutputs};
use crate::vocab::Vocabulary;

/// Logit written for user-mask pixels and for pixels lost in overlap resolution.
const CERTAIN: f32 = 10.0;

/// Overlap weight of a user-given target (`user_logit_argmax`). Any claim of it (logit > 0,
/// so weight x sigmoid > 1) beats a detection-born claim (weight <= 1): the user asked for
/// that object, so it keeps priority over targets the detector started; among user
/// targets, mask probability decides.
const USER_WEIGHT: f32 = 2.0;

/// Sizes read from the features and the decoder output.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    c: usize,
    w4: usize,
    h4: usize,
    /// Association and class embedding sizes (known after the first decode).
    e: usize,
    d: usize,
}

impl Tracker {
    pub(super) fn step_frame(&mut self, f: &Features, dec: &mut dyn MaskDecoder, vocab: &Vocabulary) -> Result<(), ModelError> {
        let t_step = std::time::Instant::now();
        self.config.validate().map_err(ModelError::Input)?;
        let mut geo = geometry(f)?;
        let prompt_mode = self.config.mode == TrackerMode::PromptQuery;
        self.begin_frame(&geo, prompt_mode);
        let fresh = self.init_pending(f, &geo);
        let rows = self.build_batch(&geo, prompt_mode);
        let detect = self.should_detect();
        self.detected = detect;
        if detect {
            self.last_detect = Some(self.frame);
        }
        let t_dec = std::time::Instant::now();
        // Taken out of `self` for the frame (the methods below borrow `self` mutably) and
        // put back at the end, so its buffers are reused by the next frame.
        let mut out = std::mem::take(&mut self.decoded);
        dec.decode_into(f, &self.batch, detect, &mut out)?;
        self.timing.decode = t_dec.elapsed();
        (geo.e, geo.d) = check_outputs(&out, self.batch.num_prompts(), detect, &geo)?;
        for t in &mut self.targets {
            t.memory.set_emb_dims(geo.e, geo.d, self.config.assoc_memory);
        }
        if prompt_mode {
            self.read_prompts(&out.prompts, &rows);
        }
        self.replace_duplicates_of(&fresh, &geo);
        if detect {
            let dets = detect::select(&out.detections, vocab, &self.config, geo.w4, geo.h4);
            // Binarised once: the overlap gate, the matches and the births read these masks
            // (the matches update the entries of the targets whose logits they change).
            let mut present = self.present_by_target(&geo);
            let matches = self.associate(&out.detections, &dets, prompt_mode, &present);
            self.apply_matches(&out.detections, &dets, &matches, &mut present, &geo);
            self.births(&out.detections, &dets, &matches, present, &geo);
            self.start_text_targets(f, &out.detections, &dets, vocab);
        }
        self.resolve_overlaps(vocab, geo.w4, geo.h4);
        self.update_memory(f, prompt_mode);
        self.write_tracks(vocab);
        self.decoded = out;
        self.frame += 1;
        self.timing.total = t_step.elapsed();
        Ok(())
    }

    /// Clears per-frame results; reallocates pools whose token layout no longer matches.
    fn begin_frame(&mut self, geo: &Geometry, prompt_mode: bool) {
        let (r, m) = token_layout(&self.config, prompt_mode);
        for t in &mut self.targets {
            t.source = Source::None;
            t.similarity = 1.0;
            t.matched = false;
            if !t.memory.token_layout_is(r * geo.c, m) {
                t.memory.set_token_layout(r * geo.c, m);
            }
        }
    }

    /// Turns user prompts given since the last frame into pinned tokens and this frame's
    /// mask; returns the ids of the targets that started.
    fn init_pending(&mut self, f: &Features, geo: &Geometry) -> Vec<u64> {
        let (w, h) = (geo.w4 * 4, geo.h4 * 4);
        let (mut dropped, mut started) = (Vec::new(), Vec::new());
        for t in &mut self.targets {
            let Some(prompt) = t.pending.take() else { continue };
            let (mask, given) = match prompt {
                TargetPrompt::Mask(m) => (m.clone(), Some(m)),
                TargetPrompt::Box { x, y, w: bw, h: bh } => (box_mask(w, h, x, y, bw, bh), None),
                TargetPrompt::Points(p) => (points_mask(w, h, &p), None),
            };
            if t.memory.pinned.is_empty() {
                tracing::warn!(id = t.id, "the similarity tracker cannot follow user prompts: target dropped");
                dropped.push(t.id);
                continue;
            }
            if !self.sampler.sample(&mask, &f.s8, &mut self.rng, &mut t.memory.pinned) {
                tracing::warn!(id = t.id, "prompt mask is empty: target dropped");
                dropped.push(t.id);
                continue;
            }
            t.memory.has_pinned = true;
            started.push(t.id);
            // A mask prompt is the target's mask on this frame (VOS: the first frame is
            // given); a box or points only locate it, so this frame's mask is decoded.
            if let Some(mask) = given {
                coverage_logits(&mask, geo.w4, geo.h4, &mut t.logits);
                t.source = Source::User;
                t.quality = 1.0;
            }
        }
        self.targets.retain(|t| !dropped.contains(&t.id));
        started
    }

    /// Removes the detection-born targets that follow the object a user target was just
    /// given on (mask IoU >= `user_replaces_iou` on this frame). Without this the old
    /// target keeps decoding its own prompt query and takes pixels from the user's.
    fn replace_duplicates_of(&mut self, started: &[u64], geo: &Geometry) {
        if started.is_empty() {
            return;
        }
        let binary = |t: &Target| binary_mask(t, geo);
        let given: Vec<Mask> = self.targets.iter().filter(|t| started.contains(&t.id) && t.source != Source::None).map(binary).collect();
        let thr = self.config.user_replaces_iou;
        self.targets.retain(|t| {
            if t.user || t.source == Source::None || !given.iter().any(|g| g.iou(&binary(t)) >= thr) {
                return true;
            }
            tracing::debug!(id = t.id, "replaced by a user target given on the same object");
            false
        });
    }

    /// Fills the prompt batch; returns each target's row (None: nothing to decode).
    /// With no row at all, one empty prompt is passed (P >= 1; its output is ignored).
    fn build_batch(&mut self, geo: &Geometry, prompt_mode: bool) -> Vec<Option<usize>> {
        let t_len = self.config.tokens_per_target();
        let mut rows = vec![None; self.targets.len()];
        let mut p = 0;
        if prompt_mode {
            for (i, t) in self.targets.iter().enumerate() {
                if t.memory.token_frames() > 0 {
                    rows[i] = Some(p);
                    p += 1;
                }
            }
        }
        let p_rows = p.max(1);
        self.batch.tokens.resize(&[p_rows, t_len, geo.c]);
        self.batch.valid.resize(&[p_rows, t_len]);
        self.batch.tokens.data.iter_mut().for_each(|v| *v = 0.0);
        self.batch.valid.data.iter_mut().for_each(|v| *v = 0.0);
        for (i, t) in self.targets.iter().enumerate() {
            if let Some(r) = rows[i] {
                let tok = &mut self.batch.tokens.data[r * t_len * geo.c..(r + 1) * t_len * geo.c];
                let val = &mut self.batch.valid.data[r * t_len..(r + 1) * t_len];
                t.memory.write_prompt(tok, val);
            }
        }
        rows
    }

    fn should_detect(&self) -> bool {
        if self.config.mode == TrackerMode::Similarity {
            return true;
        }
        let interval = self.config.detect_interval as u64;
        if interval == 0 {
            return false;
        }
        let active = self.targets.iter().any(|t| matches!(t.state, TrackState::Tentative | TrackState::Confirmed));
        // Due when a multiple of the interval lies in (last detection, this frame]: on every
        // multiple when each frame is processed, and on the first frame after a multiple
        // that was skipped (`Tracker::skip`), so the cadence stays in stream frames.
        let due = self.last_detect.is_none_or(|last| self.frame / interval > last / interval);
        !active || due
    }

    /// Reads each target's prompt-query output and applies the consistency check.
    fn read_prompts(&mut self, out: &QueryOutputs, rows: &[Option<usize>]) {
        let (thr_det, thr_user) = (self.config.consistency_threshold, self.config.prompt_consistency_threshold);
        for (t, row) in self.targets.iter_mut().zip(rows) {
            let Some(r) = *row else { continue };
            let thr = if t.user { thr_user } else { thr_det };
            copy_into(&mut t.emb, out.assoc_emb.row(r));
            copy_into(&mut t.class_emb, out.class_emb.row(r));
            if t.source == Source::User {
                continue; // the user's mask stands on the frame it was given
            }
            let logits = out.mask_logits.row(r);
            let sim = weighted_cosine(&t.memory.embeddings, &t.emb).unwrap_or(1.0);
            if tracing::enabled!(tracing::Level::TRACE) {
                // Counted only when traced: the decision below needs just `any`.
                let area = logits.iter().filter(|&&v| v > 0.0).count();
                tracing::trace!(id = t.id, user = t.user, area, sim, thr, "prompt query");
            }
            if logits.iter().any(|&v| v > 0.0) && sim > thr {
                copy_into(&mut t.logits, logits);
                t.quality = mask_quality(logits);
                t.similarity = sim;
                t.source = Source::Prompt;
            }
        }
    }

    /// Matches detections to targets: per target, the index into `dets`.
    fn associate(&self, out: &QueryOutputs, dets: &[Detection], prompt_mode: bool, present: &[Present]) -> Vec<Option<usize>> {
        let demb: Vec<&[f32]> = dets.iter().map(|d| out.assoc_emb.row(d.index)).collect();
        let cand: Vec<usize> = (0..self.targets.len())
            .filter(|&i| if prompt_mode { !self.targets[i].memory.embeddings.is_empty() } else { self.targets[i].memory.mean_emb.is_set() })
            .collect();
        let (n, m) = (cand.len(), dets.len());
        let found = if prompt_mode {
            let rings: Vec<_> = cand.iter().map(|&i| &self.targets[i].memory.embeddings).collect();
            let mut b = bi_softmax(&rings, &demb, self.config.assoc_memory);
            self.gate_by_overlap(&cand, dets, &mut b, present);
            let min_cos = self.config.match_min_cosine;
            match_by_similarity(&b, n, m, self.config.assoc_tau, |i, j| weighted_cosine(rings[i], demb[j]).is_some_and(|c| c > min_cos))
        } else {
            let mut sim = vec![0.0; n * m];
            for (a, &i) in cand.iter().enumerate() {
                for (j, e) in demb.iter().enumerate() {
                    sim[a * m + j] = cosine(&self.targets[i].memory.mean_emb.mean, e);
                }
            }
            match_by_similarity(&sim, n, m, self.config.similarity_threshold, |_, _| true)
        };
        let mut per_target = vec![None; self.targets.len()];
        for (a, j) in found.into_iter().enumerate() {
            per_target[cand[a]] = j;
        }
        per_target
    }

    /// Zeroes the similarity of each (present target, detection) pair whose masks overlap
    /// less than `match_min_iou`, before the assignment (so the target can still take the
    /// detection that is its object). Absent targets are re-identified by embedding alone.
    fn gate_by_overlap(&self, cand: &[usize], dets: &[Detection], sim: &mut [f32], present: &[Present]) {
        let thr = self.config.match_min_iou;
        if thr <= 0.0 {
            return;
        }
        let m = dets.len();
        for (a, &i) in cand.iter().enumerate() {
            let Some((mask, bbox)) = &present[i] else { continue };
            for (j, d) in dets.iter().enumerate() {
                let near = bbox.is_some_and(|b| b.iou(&d.bbox) > 0.0) && mask.iou(&d.mask) >= thr;
                if !near {
                    sim[a * m + j] = 0.0;
                }
            }
        }
    }

    /// A match refreshes the target's running-mean embedding and class embedding; a target
    /// without a prompt-query mask this frame takes the detection's mask (re-identification).
    /// A detection already explained by a target present through its own prompt query
    /// (mask IoU >= `birth_max_iou`) never revives another target: with look-alike objects
    /// the embeddings cannot tell them apart, and the prompt query's spatial memory can.
    fn apply_matches(
        &mut self,
        out: &QueryOutputs,
        dets: &[Detection],
        matches: &[Option<usize>],
        present: &mut [Present],
        geo: &Geometry,
    ) {
        let window = self.config.mean_window;
        let claimed: Vec<bool> =
            dets.iter().map(|d| overlaps_any(present.iter().flatten(), &d.mask, Some(d.bbox), self.config.birth_max_iou)).collect();
        for ((t, m), p) in self.targets.iter_mut().zip(matches).zip(present.iter_mut()) {
            let Some(j) = *m else { continue };
            let d = &dets[j];
            if t.source == Source::None && claimed[j] {
                continue;
            }
            let (emb, cls) = (out.assoc_emb.row(d.index), out.class_emb.row(d.index));
            t.memory.mean_emb.update(emb, window);
            copy_into(&mut t.class_obs, cls);
            t.matched = true;
            tracing::trace!(id = t.id, det = d.index, source = ?t.source, "matched a detection");
            if t.source == Source::None {
                copy_into(&mut t.logits, out.mask_logits.row(d.index));
                copy_into(&mut t.emb, emb);
                copy_into(&mut t.class_emb, cls);
                t.quality = d.quality;
                t.source = Source::Detection;
                *p = Some((d.mask.clone(), Some(d.bbox))); // the detection's mask is its logits binarised
            } else if t.source == Source::Prompt && self.config.matched_mask != MatchedMask::Prompt {
                combine_masks(t, out.mask_logits.row(d.index), d.quality, self.config.matched_mask);
                *p = Some(with_box(binary_mask(t, geo)));
            }
        }
    }

    /// New targets from unmatched, confident detections overlapping no present target.
    fn births(&mut self, out: &QueryOutputs, dets: &[Detection], matches: &[Option<usize>], mut present: Vec<Present>, geo: &Geometry) {
        let mut taken = vec![false; dets.len()];
        matches.iter().flatten().for_each(|&j| taken[j] = true);
        for (j, d) in dets.iter().enumerate() {
            if taken[j] || d.score <= self.config.score_threshold {
                continue;
            }
            let parts = if self.config.split_min_cells > 0 {
                self.parts.split(&d.mask, self.config.split_min_cells, self.config.split_min_gap)
            } else {
                Vec::new()
            };
            if parts.is_empty() {
                self.birth(out, d, None, &mut present, geo);
            }
            for part in &parts {
                self.birth(out, d, Some(part), &mut present, geo);
            }
        }
    }

    /// A new target from detection `d`, or from one connected `part` of its mask, unless
    /// that mask overlaps a present target (it is that target's object) or the cap is full.
    fn birth(&mut self, out: &QueryOutputs, d: &Detection, part: Option<&Mask>, present: &mut Vec<Present>, geo: &Geometry) {
        let mask = part.unwrap_or(&d.mask);
        let bbox = mask.bbox();
        if overlaps_any(present.iter().flatten(), mask, bbox, self.config.birth_max_iou) {
            return;
        }
        if self.targets.len() >= self.config.max_targets && !self.evict(1) {
            return; // cap reached and no lost target to forget
        }
        let mut t = Target::new(self.take_id(), false, self.new_pool(geo));
        tracing::trace!(id = t.id, det = d.index, score = d.score, part = part.is_some(), "birth");
        copy_into(&mut t.logits, out.mask_logits.row(d.index));
        t.quality = d.quality;
        if let Some(p) = part {
            t.logits.iter_mut().zip(&p.data).filter(|(_, &on)| on == 0).for_each(|(v, _)| *v = v.min(-CERTAIN));
            t.quality = mask_quality(&t.logits);
        }
        copy_into(&mut t.emb, out.assoc_emb.row(d.index));
        copy_into(&mut t.class_emb, out.class_emb.row(d.index));
        t.source = Source::Detection;
        present.push(Some((mask.clone(), bbox)));
        self.targets.push(t);
    }

    /// Per target (same index), its binary mask before overlap resolution and the mask's
    /// box, or None when it has no mask this frame.
    fn present_by_target(&self, geo: &Geometry) -> Vec<Present> {
        self.targets.iter().map(|t| (t.source != Source::None).then(|| with_box(binary_mask(t, geo)))).collect()
    }

    fn new_pool(&self, geo: &Geometry) -> MemoryPool {
        let (r, m) = token_layout(&self.config, self.config.mode == TrackerMode::PromptQuery);
        MemoryPool::new(r, geo.c, m, self.config.assoc_memory, geo.e, geo.d)
    }

    /// Per-pixel argmax of weight * sigmoid(logit) between present targets: weight = class
    /// prob * similarity (* quality with `overlap_quality`, the reference) for detection-born
    /// targets, `USER_WEIGHT` for user targets with `user_logit_argmax`.
    fn resolve_overlaps(&mut self, vocab: &Vocabulary, w: usize, h: usize) {
        let idx: Vec<usize> = (0..self.targets.len()).filter(|&i| self.targets[i].source != Source::None).collect();
        let keep = {
            let claims: Vec<Claim> = idx
                .iter()
                .map(|&i| {
                    let t = &self.targets[i];
                    let weight = if t.source == Source::User {
                        1e6 // a user's mask wins on the frame it was given
                    } else if t.user && self.config.user_logit_argmax {
                        USER_WEIGHT
                    } else {
                        // The reference weight; detection-born targets leave out q unless
                        // `overlap_quality`.
                        let q = if t.user || self.config.overlap_quality { t.quality } else { 1.0 };
                        classify(vocab, &t.class_emb).1 * t.similarity * q
                    };
                    let keep_fraction = if t.user { self.config.user_keep_area_fraction } else { self.config.keep_area_fraction };
                    Claim { logits: &t.logits, weight, keep_fraction }
                })
                .collect();
            resolve(&claims, w * h, &mut self.owner)
        };
        for (k, &i) in idx.iter().enumerate() {
            let t = &mut self.targets[i];
            if keep[k].is_none() {
                tracing::trace!(id = t.id, "overlap: mask taken by stronger targets");
                t.source = Source::None;
                continue;
            }
            let own = (k + 1) as u16;
            t.mask.width = w;
            t.mask.height = h;
            t.mask.data.clear();
            t.mask.data.extend(self.owner.iter().map(|&o| (o == own) as u8));
            for (v, &o) in t.logits.iter_mut().zip(&self.owner) {
                if *v > 0.0 && o != own {
                    *v = -CERTAIN;
                }
            }
        }
    }

    /// Memory pool update (tokens from the final mask, embeddings) and lifecycle.
    fn update_memory(&mut self, f: &Features, prompt_mode: bool) {
        let window = self.config.mean_window;
        let cfg = &self.config;
        let mut alive = vec![true; self.targets.len()];
        for (i, t) in self.targets.iter_mut().enumerate() {
            update_class_mean(t, cfg.class_area_power, window);
            if t.source == Source::None {
                alive[i] = t.on_miss(cfg);
                continue;
            }
            // First appearance: tokens go to the pinned slot only (the FIFO holds the
            // frames after it, so no frame is in the prompt twice). A user target's pinned
            // tokens come from its prompt (init_pending).
            if prompt_mode && !t.memory.pinned.is_empty() {
                if !t.memory.has_pinned {
                    t.memory.has_pinned = self.sampler.sample(&t.mask, &f.s8, &mut self.rng, &mut t.memory.pinned);
                } else if t.source != Source::User && !t.memory.recent.is_empty_capacity() {
                    let slot = t.memory.recent.push_slot();
                    self.sampler.sample(&t.mask, &f.s8, &mut self.rng, slot);
                }
            }
            if !t.emb.is_empty() {
                t.memory.embeddings.push(&t.emb);
                if !t.matched {
                    t.memory.mean_emb.update(&t.emb, window);
                }
            }
            t.on_hit(cfg);
        }
        let mut k = 0;
        self.targets.retain(|_| {
            k += 1;
            alive[k - 1]
        });
    }

    /// Copies the present targets into the reusable output list.
    fn write_tracks(&mut self, vocab: &Vocabulary) {
        let mut n = 0;
        for t in &self.targets {
            if t.source == Source::None || (t.state == TrackState::Tentative && !self.config.emit_tentative) {
                continue;
            }
            let cls = if t.memory.class_emb.is_set() { &t.memory.class_emb.mean } else { &t.class_emb };
            let (class_id, prob) = classify(vocab, cls);
            if n == self.tracks.len() {
                self.tracks.push(Track { id: 0, class_id: 0, score: 0.0, state: t.state, mask: Mask::default(), mask_logits: Vec::new() });
            }
            let out = &mut self.tracks[n];
            out.id = t.id;
            out.class_id = class_id;
            out.score = prob * t.quality;
            out.state = t.state;
            out.mask.clone_from(&t.mask);
            out.mask_logits.clone_from(&t.logits);
            n += 1;
        }
        self.tracks.truncate(n);
    }
}

/// Adds this frame's class evidence to the target's class mean: the matched detection's
/// class embedding (counted even when overlaps then took the target's mask), else its own
/// output's when it has one. Weight: area^p of its final mask (0 without one), 1 for every
/// frame when p = 0.
fn update_class_mean(t: &mut Target, power: f32, window: u32) {
    let present = t.source != Source::None;
    let class_emb = if t.matched {
        &t.class_obs
    } else if present && !t.emb.is_empty() {
        &t.class_emb
    } else {
        return;
    };
    let area = if present { t.mask.area() } else { 0 };
    let weight = if power == 0.0 { 1.0 } else { (area as f32).powf(power) };
    t.memory.class_emb.update_weighted(class_emb, weight, window);
}

/// A prompt-present target's mask given its matched detection's logits.
fn combine_masks(t: &mut Target, det: &[f32], det_quality: f32, how: MatchedMask) {
    match how {
        MatchedMask::Prompt => {}
        MatchedMask::Best if det_quality <= t.quality => {}
        MatchedMask::Detection | MatchedMask::Best => {
            copy_into(&mut t.logits, det);
            t.quality = det_quality;
        }
        MatchedMask::Mean => {
            t.logits.iter_mut().zip(det).for_each(|(a, b)| *a = 0.5 * (*a + b));
            t.quality = mask_quality(&t.logits);
        }
    }
}

/// Whether `mask`'s IoU with any of `masks` reaches `thr` (> 0); boxes that do
/// not intersect are skipped without touching pixels.
fn overlaps_any<'a>(mut masks: impl Iterator<Item = &'a (Mask, Option<BBox>)>, mask: &Mask, bbox: Option<BBox>, thr: f32) -> bool {
    let Some(bbox) = bbox else { return false };
    masks.any(|(m, b)| b.is_some_and(|b| b.iou(&bbox) > 0.0) && m.iou(mask) >= thr)
}

/// A target's binary mask this frame and its box (see `present_by_target`).
type Present = Option<(Mask, Option<BBox>)>;

/// A mask paired with its box.
fn with_box(m: Mask) -> (Mask, Option<BBox>) {
    let b = m.bbox();
    (m, b)
}

/// The target's logits on this frame thresholded at 0.
fn binary_mask(t: &Target, geo: &Geometry) -> Mask {
    let mut m = Mask::default();
    binarize(&t.logits, geo.w4, geo.h4, &mut m);
    m
}

/// R tokens per frame and M FIFO frames; the similarity tracker keeps no tokens.
fn token_layout(cfg: &super::TrackerConfig, prompt_mode: bool) -> (usize, usize) {
    if prompt_mode {
        (cfg.tokens_per_frame, cfg.memory_frames)
    } else {
        (0, 0)
    }
}

/// Logits of a given mask on a w x h grid: each cell covers a block of the mask and gets
/// CERTAIN * (2 * covered fraction - 1), so the 0-level follows the mask's edge and
/// bilinear upsampling gives back its shape (nearest sampling shifts small objects).
fn coverage_logits(mask: &Mask, w: usize, h: usize, out: &mut Vec<f32>) {
    out.clear();
    for y in 0..h {
        let (y0, y1) = (y * mask.height / h, ((y + 1) * mask.height / h).max(y * mask.height / h + 1).min(mask.height));
        for x in 0..w {
            let (x0, x1) = (x * mask.width / w, ((x + 1) * mask.width / w).max(x * mask.width / w + 1).min(mask.width));
            let mut on = 0usize;
            for yy in y0..y1 {
                on += mask.data[yy * mask.width + x0..yy * mask.width + x1].iter().filter(|&&v| v != 0).count();
            }
            let n = ((y1 - y0) * (x1 - x0)).max(1);
            out.push(CERTAIN * (2.0 * on as f32 / n as f32 - 1.0));
        }
    }
}

fn copy_into(dst: &mut Vec<f32>, src: &[f32]) {
    dst.clear();
    dst.extend_from_slice(src);
}

fn geometry(f: &Features) -> Result<Geometry, ModelError> {
    let bad = |what: &str, s: &[usize]| ModelError::Input(format!("tracker: features.{what} must be [C, h, w], got {s:?}"));
    if f.s8.shape.len() != 3 || f.s8.numel() == 0 {
        return Err(bad("s8", &f.s8.shape));
    }
    if f.mask_feat.shape.len() != 3 || f.mask_feat.shape[1] == 0 || f.mask_feat.shape[2] == 0 {
        return Err(bad("mask_feat", &f.mask_feat.shape));
    }
    Ok(Geometry { c: f.s8.shape[0], w4: f.mask_feat.shape[2], h4: f.mask_feat.shape[1], e: 0, d: 0 })
}

/// Checks the decoder output against the batch; returns (E, D).
fn check_outputs(out: &DecoderOutput, p: usize, detect: bool, geo: &Geometry) -> Result<(usize, usize), ModelError> {
    let (e, d) = check_group(&out.prompts, "prompt", Some(p), geo)?;
    if detect {
        let (e2, d2) = check_group(&out.detections, "det", None, geo)?;
        if (e2, d2) != (e, d) {
            return Err(ModelError::Backend(format!("decoder: det embeddings [{e2}, {d2}] differ from prompt embeddings [{e}, {d}]")));
        }
    }
    Ok((e, d))
}

fn check_group(q: &QueryOutputs, name: &str, want: Option<usize>, geo: &Geometry) -> Result<(usize, usize), ModelError> {
    let n = q.len();
    let err = |m: String| Err(ModelError::Backend(format!("decoder: {m}")));
    if let Some(p) = want {
        if n != p {
            return err(format!("{name}_quality has {n} rows, the prompt batch has {p}"));
        }
    }
    if q.mask_logits.shape != [n, geo.h4, geo.w4] {
        return err(format!("{name}_masks shape {:?}, expected [{n}, {}, {}]", q.mask_logits.shape, geo.h4, geo.w4));
    }
    if q.assoc_emb.shape.len() != 2 || q.assoc_emb.shape[0] != n || q.class_emb.shape.len() != 2 || q.class_emb.shape[0] != n {
        return err(format!("{name}_assoc_emb {:?} / {name}_class_emb {:?} must have {n} rows", q.assoc_emb.shape, q.class_emb.shape));
    }
    Ok((q.assoc_emb.shape[1], q.class_emb.shape[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(logits: &[f32]) -> Target {
        let mut t = Target::new(1, false, MemoryPool::new(1, 1, 1, 1, 1, 1));
        t.logits = logits.to_vec();
        t.quality = mask_quality(logits);
        t
    }

    #[test]
    fn matched_mask_options_combine_prompt_and_detection_logits() {
        let (prompt, det) = ([2.0, 2.0, -2.0, 0.5], [-2.0, 3.0, 3.0, 3.0]);
        let dq = mask_quality(&det); // 3 of 3 above -1 are above 1: q = 1
        let mut t = target(&prompt);
        combine_masks(&mut t, &det, dq, MatchedMask::Prompt);
        assert_eq!((t.logits.as_slice(), t.quality), (&prompt[..], 2.0 / 3.0));
        combine_masks(&mut t, &det, dq, MatchedMask::Mean);
        assert_eq!(t.logits, [0.0, 2.5, 0.5, 1.75]);
        assert_eq!(t.quality, 0.5, "q of the mean: 2 of 4 above 1");
        let mut t = target(&prompt);
        combine_masks(&mut t, &det, dq, MatchedMask::Best);
        assert_eq!((t.logits.as_slice(), t.quality), (&det[..], 1.0), "the detection's q is higher");
        let mut t = target(&det);
        combine_masks(&mut t, &prompt, 2.0 / 3.0, MatchedMask::Best);
        assert_eq!(t.logits, det, "the prompt's q is higher: kept");
        combine_masks(&mut t, &prompt, 2.0 / 3.0, MatchedMask::Detection);
        assert_eq!(t.logits, prompt);
    }
}
