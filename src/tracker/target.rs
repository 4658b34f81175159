//! One remembered target: identity, lifecycle counters, memory pool and this frame's result.
use super::config::TrackerConfig;
use super::memory::MemoryPool;
use super::TrackState;
use crate::mask::Mask;

/// Where a target's mask on the current frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Not found on this frame.
    None,
    /// Its own prompt query (passed the consistency check).
    Prompt,
    /// A matched detection (prompt output missing or failed; or similarity mode).
    Detection,
    /// The user's prompt on the frame it was given.
    User,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub id: u64,
    pub state: TrackState,
    /// Frames with a mask in total and consecutive frames without one.
    pub hits: u32,
    pub misses: u32,
    /// Given by the user (prompt-specified): confirmed at once, never evicted by births.
    pub user: bool,
    pub memory: MemoryPool,
    /// User prompt waiting for the next frame's features (tokens are sampled from them).
    pub pending: Option<super::TargetPrompt>,
    // --- this frame ---
    pub source: Source,
    /// Matched a detection this frame (its embeddings were refreshed from it).
    pub matched: bool,
    /// Mask logits at mask-feature resolution (row copied from the decoder output).
    pub logits: Vec<f32>,
    /// Final binary mask after overlap resolution.
    pub mask: Mask,
    pub quality: f32,
    pub similarity: f32,
    /// Association / class embeddings observed this frame (copied: outputs are per frame).
    pub emb: Vec<f32>,
    pub class_emb: Vec<f32>,
    /// Class embedding of the detection matched this frame (the class evidence when
    /// `matched`; it enters the class mean once the frame's final mask is known).
    pub class_obs: Vec<f32>,
}

impl Target {
    pub fn new(id: u64, user: bool, memory: MemoryPool) -> Self {
        Target {
            id,
            state: if user { TrackState::Confirmed } else { TrackState::Tentative },
            hits: 0,
            misses: 0,
            user,
            memory,
            pending: None,
            source: Source::None,
            matched: false,
            logits: Vec::new(),
            mask: Mask::default(),
            quality: 0.0,
            similarity: 1.0,
            emb: Vec::new(),
            class_emb: Vec::new(),
            class_obs: Vec::new(),
        }
    }

    /// The target has a mask on this frame.
    pub fn on_hit(&mut self, cfg: &TrackerConfig) {
        self.hits = self.hits.saturating_add(1);
        self.misses = 0;
        match self.state {
            TrackState::Tentative if self.hits >= cfg.confirm_frames => self.state = TrackState::Confirmed,
            // Re-identified: a lost target found again is confirmed (it was before).
            TrackState::Lost => self.state = TrackState::Confirmed,
            _ => {}
        }
    }

    /// The target has no mask on this frame; false when it must be forgotten.
    pub fn on_miss(&mut self, cfg: &TrackerConfig) -> bool {
        self.on_unseen(1, cfg)
    }

    /// The target went `frames` more frames without a mask; false when it must be forgotten.
    pub fn on_unseen(&mut self, frames: u32, cfg: &TrackerConfig) -> bool {
        self.misses = self.misses.saturating_add(frames);
        match self.state {
            // A tentative target that is not found again was most likely a false detection.
            TrackState::Tentative => self.misses < cfg.lost_after.max(1),
            TrackState::Confirmed => {
                if self.misses >= cfg.lost_after {
                    self.state = TrackState::Lost;
                }
                self.misses < cfg.max_age
            }
            TrackState::Lost => self.misses < cfg.max_age,
        }
    }

    /// Eviction order when the target cap is reached: lower is evicted first.
    /// User targets are never evicted for a detection.
    pub fn keep_priority(&self) -> (u8, u32) {
        let rank = match (self.user, self.state) {
            (true, _) => 3,
            (false, TrackState::Lost) => 0,
            (false, TrackState::Tentative) => 1,
            (false, TrackState::Confirmed) => 2,
        };
        // Among equals, the one missing longest goes first.
        (rank, u32::MAX - self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: bool) -> Target {
        Target::new(1, user, MemoryPool::new(1, 1, 1, 1, 1, 1))
    }

    #[test]
    fn lifecycle_tentative_confirmed_lost_removed() {
        let cfg = TrackerConfig { confirm_frames: 2, lost_after: 1, max_age: 3, ..Default::default() };
        let mut t = target(false);
        t.on_hit(&cfg);
        assert_eq!(t.state, TrackState::Tentative);
        t.on_hit(&cfg);
        assert_eq!(t.state, TrackState::Confirmed);
        assert!(t.on_miss(&cfg));
        assert_eq!(t.state, TrackState::Lost);
        assert!(t.on_miss(&cfg));
        t.on_hit(&cfg);
        assert_eq!(t.state, TrackState::Confirmed, "re-identified");
        assert!(t.on_miss(&cfg) && t.on_miss(&cfg));
        assert!(!t.on_miss(&cfg), "forgotten after max_age misses");
    }

    #[test]
    fn tentative_dies_on_first_miss_and_user_starts_confirmed() {
        let cfg = TrackerConfig::default();
        let mut t = target(false);
        t.on_hit(&cfg);
        assert!(!t.on_miss(&cfg));
        assert_eq!(target(true).state, TrackState::Confirmed);
    }
}
