//! Text targets: "track the object the text describes".
//!
//! DEVIATION from UniVS: its text prompts (Lang2Img) feed the text embedding to the decoder
//! as a prompt query. Our contract's decoder takes only visual prompt tokens, so a text
//! target waits for the next detection frame and starts from the best-scoring detection
//! that the open-vocabulary classifier assigns to the text: over the current vocabulary
//! plus the text itself, the class embedding's highest cosine is with the text or with a
//! vocabulary name whose text embedding is within `synonym_cosine` of the text's ("a red
//! disc" ~ "disc"). The test is relative (an argmax), not an absolute cosine, because
//! class embeddings are trained for ranking: their absolute cosines depend on training.
//! From then on it is a prompt-specified (user) target like one given by a mask, tracked
//! by the same memory and prompt queries. It can only find what the detector finds, and it
//! reads the text only through the class-embedding space (a colour in the phrase does not
//! pick the red disc among discs).
use super::associate::cosine;
use super::detect::Detection;
use super::memory::MemoryPool;
use super::target::{Source, Target};
use super::{Tracker, TrackerMode};
use crate::mask::Mask;
use crate::model::{Features, QueryOutputs};
use crate::vocab::Vocabulary;

/// Text targets waiting for a matching detection; more are refused (bounded state).
pub const MAX_PENDING_TEXT: usize = 16;

/// A text target waiting for a detection frame.
#[derive(Debug, Clone)]
pub struct TextQuery {
    pub id: u64,
    /// L2-normalised text embedding (class-embedding space).
    pub emb: Vec<f32>,
    /// Vocabulary names at least this close to the text (text-text cosine) count as it.
    pub synonym_cosine: f32,
}

impl Tracker {
    /// Reserves an id for a text target (see the module doc); it starts on the first
    /// detection frame with a detection classified as the text (or as a vocabulary name
    /// with text-text cosine >= `synonym_cosine`), and waits until then (or until
    /// `remove_target(id)`).
    pub fn add_text_target(&mut self, text_emb: Vec<f32>, synonym_cosine: f32) -> Result<u64, String> {
        if self.text_queries.len() >= MAX_PENDING_TEXT {
            return Err(format!("{MAX_PENDING_TEXT} text targets are already waiting for a matching detection"));
        }
        if text_emb.is_empty() || text_emb.iter().any(|v| !v.is_finite()) {
            return Err("text target: the text embedding is empty or not finite".into());
        }
        let id = self.take_id();
        self.text_queries.push(TextQuery { id, emb: text_emb, synonym_cosine });
        Ok(id)
    }

    /// Ids of text targets still waiting for a matching detection.
    pub fn pending_text_targets(&self) -> Vec<u64> {
        self.text_queries.iter().map(|q| q.id).collect()
    }

    /// On a detection frame (after births): starts every waiting text target that has a
    /// matching detection. When a present detection-born target already holds that object
    /// (mask IoU >= `birth_max_iou`), it becomes the text target (it takes the text
    /// target's id, keeps its memory, and is now a user target) rather than tracking the
    /// object twice; objects held by user targets are not candidates.
    pub(super) fn start_text_targets(&mut self, f: &Features, out: &QueryOutputs, dets: &[Detection], vocab: &Vocabulary) {
        if self.text_queries.is_empty() || dets.is_empty() {
            return;
        }
        let (w4, h4) = (dets[0].mask.width, dets[0].mask.height);
        let queries = std::mem::take(&mut self.text_queries);
        for q in queries {
            let started = self.best_detection(&q, out, dets, vocab, w4, h4).is_some_and(|j| self.adopt(q.id, f, out, &dets[j], w4, h4));
            if !started {
                self.text_queries.push(q);
            }
        }
    }

    /// The best-scoring free detection classified as the text (see the module doc).
    fn best_detection(
        &self,
        q: &TextQuery,
        out: &QueryOutputs,
        dets: &[Detection],
        vocab: &Vocabulary,
        w4: usize,
        h4: usize,
    ) -> Option<usize> {
        let user_masks = self.present_masks_where(w4, h4, |t| t.user);
        let rows: Vec<&[f32]> = vocab.embeddings.chunks(vocab.dim.max(1)).filter(|r| r.len() == q.emb.len()).collect();
        let synonym: Vec<bool> = rows.iter().map(|r| cosine(r, &q.emb) >= q.synonym_cosine).collect();
        let mut best: Option<(usize, f32)> = None;
        for (j, d) in dets.iter().enumerate() {
            let cls = out.class_emb.row(d.index);
            if cls.len() != q.emb.len() || user_masks.iter().any(|m| m.iou(&d.mask) >= self.config.birth_max_iou) {
                continue;
            }
            // Best cosine among the text and its synonyms vs among the other names.
            let (mut text, mut other) = (cosine(cls, &q.emb), f32::NEG_INFINITY);
            for (r, &syn) in rows.iter().zip(&synonym) {
                let c = cosine(cls, r);
                if syn {
                    text = text.max(c)
                } else {
                    other = other.max(c)
                }
            }
            if text >= other && best.is_none_or(|(_, s)| d.score > s) {
                best = Some((j, d.score));
            }
        }
        best.map(|b| b.0)
    }

    /// Makes detection `d` the text target `id`: renames the present target holding it,
    /// or starts a new user target from it (its memory is filled in `update_memory`).
    /// False when the target cap leaves no room (the text target keeps waiting).
    fn adopt(&mut self, id: u64, f: &Features, out: &QueryOutputs, d: &Detection, w4: usize, h4: usize) -> bool {
        let holder = self
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.source != Source::None && !t.user)
            .map(|(i, t)| (i, binary(&t.logits, w4, h4).iou(&d.mask)))
            .filter(|&(_, iou)| iou >= self.config.birth_max_iou)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = holder {
            let t = &mut self.targets[i];
            tracing::info!(old = t.id, id, "text target adopts a tracked object");
            t.id = id;
            t.user = true;
            t.state = super::TrackState::Confirmed;
            return true;
        }
        if self.targets.len() >= self.config.max_targets && !self.evict(3) {
            tracing::warn!(id, "text target: max_targets reached and every target is present or given by the user");
            return false;
        }
        let mut t = Target::new(id, true, self.text_pool(f, out));
        let row = |q: &crate::tensor::Tensor| q.row(d.index).to_vec();
        t.logits = row(&out.mask_logits);
        t.emb = row(&out.assoc_emb);
        t.class_emb = row(&out.class_emb);
        t.quality = d.quality;
        t.source = Source::Detection;
        self.targets.push(t);
        true
    }

    /// A memory pool with this frame's sizes (as for a birth).
    fn text_pool(&self, f: &Features, out: &QueryOutputs) -> MemoryPool {
        let c = f.s8.shape[0];
        let (r, m) =
            if self.config.mode == TrackerMode::PromptQuery { (self.config.tokens_per_frame, self.config.memory_frames) } else { (0, 0) };
        MemoryPool::new(r, c, m, self.config.assoc_memory, out.assoc_emb.shape[1], out.class_emb.shape[1])
    }

    fn present_masks_where(&self, w4: usize, h4: usize, keep: impl Fn(&Target) -> bool) -> Vec<Mask> {
        self.targets.iter().filter(|t| t.source != Source::None && keep(t)).map(|t| binary(&t.logits, w4, h4)).collect()
    }
}

fn binary(logits: &[f32], w: usize, h: usize) -> Mask {
    let mut m = Mask::default();
    super::detect::binarize(logits, w, h, &mut m);
    m
}
