//! A target's memory pool: fixed-capacity ring buffers, allocated once per target.
//!
//! Tokens: R per frame; the first frame the target appeared in is pinned, the last M frames
//! are a FIFO. Embeddings: the last `assoc_memory` association embeddings (bi-softmax and
//! consistency) plus running means of the association and class embeddings. Nothing grows
//! with the stream length.

/// A FIFO of fixed-size f32 slots; pushing into a full ring overwrites the oldest slot.
#[derive(Debug, Clone)]
pub struct Ring {
    slot: usize,
    data: Vec<f32>,
    capacity: usize,
    len: usize,
    /// Index of the oldest slot.
    head: usize,
}

impl Ring {
    pub fn new(capacity: usize, slot: usize) -> Self {
        Ring { slot, data: vec![0.0; capacity * slot], capacity, len: 0, head: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the slot to write the newest entry into (evicting the oldest when full).
    pub fn push_slot(&mut self) -> &mut [f32] {
        let idx = if self.len < self.capacity {
            self.len += 1;
            (self.head + self.len - 1) % self.capacity
        } else {
            let i = self.head;
            self.head = (self.head + 1) % self.capacity;
            i
        };
        &mut self.data[idx * self.slot..(idx + 1) * self.slot]
    }

    pub fn push(&mut self, v: &[f32]) {
        if self.capacity > 0 {
            self.push_slot().copy_from_slice(v);
        }
    }

    /// Entry `k`, oldest first.
    pub fn get(&self, k: usize) -> &[f32] {
        let idx = (self.head + k) % self.capacity;
        &self.data[idx * self.slot..(idx + 1) * self.slot]
    }

    /// True when the ring can hold nothing (capacity or slot size 0).
    pub fn is_empty_capacity(&self) -> bool {
        self.data.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn slot_len(&self) -> usize {
        self.slot
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// f32 values held (capacity, not length): the pool's fixed footprint.
    pub fn footprint(&self) -> usize {
        self.data.len()
    }
}

/// Running mean over a capped window of weighted entries: m += (v - m) * w / W, where W, the
/// total weight, is capped at `window` x the largest weight seen. With every weight 1 this
/// is the plain mean of the first `window` entries and then an exponential mean of rate
/// 1 / window; a larger weight pulls the mean further (a frame that saw more of an object).
#[derive(Debug, Clone)]
pub struct RunningMean {
    pub mean: Vec<f32>,
    total: f32,
    max_weight: f32,
}

impl RunningMean {
    pub fn new(dim: usize) -> Self {
        RunningMean { mean: vec![0.0; dim], total: 0.0, max_weight: 0.0 }
    }

    pub fn update(&mut self, v: &[f32], window: u32) {
        self.update_weighted(v, 1.0, window);
    }

    /// Adds `v` with weight `w`; ignored when `w` is not positive or the size differs.
    pub fn update_weighted(&mut self, v: &[f32], w: f32, window: u32) {
        if v.len() != self.mean.len() || w.is_nan() || w <= 0.0 {
            return;
        }
        self.max_weight = self.max_weight.max(w);
        self.total = (self.total + w).min(window.max(1) as f32 * self.max_weight);
        let r = w / self.total;
        for (m, x) in self.mean.iter_mut().zip(v) {
            *m += (x - *m) * r;
        }
    }

    pub fn is_set(&self) -> bool {
        self.total > 0.0
    }
}

/// Everything a target remembers.
#[derive(Debug, Clone)]
pub struct MemoryPool {
    /// [R, C] tokens of the first frame the target appeared in.
    pub pinned: Vec<f32>,
    pub has_pinned: bool,
    /// FIFO of the last M frames, [R, C] each.
    pub recent: Ring,
    /// Last `assoc_memory` association embeddings, oldest first.
    pub embeddings: Ring,
    /// Running mean of the association embedding (similarity mode, refresh on match).
    pub mean_emb: RunningMean,
    /// Running mean of the class embedding (class score refresh).
    pub class_emb: RunningMean,
}

impl MemoryPool {
    pub fn new(r: usize, c: usize, m: usize, assoc_memory: usize, e: usize, d: usize) -> Self {
        MemoryPool {
            pinned: vec![0.0; r * c],
            has_pinned: false,
            recent: Ring::new(m, r * c),
            embeddings: Ring::new(assoc_memory, e),
            mean_emb: RunningMean::new(e),
            class_emb: RunningMean::new(d),
        }
    }

    /// True when the token buffers hold `frame_len` values per frame and `m` FIFO frames.
    pub fn token_layout_is(&self, frame_len: usize, m: usize) -> bool {
        self.pinned.len() == frame_len && self.recent.capacity() == m && self.recent.slot_len() == frame_len
    }

    /// Reallocates the token buffers (forgetting their tokens): config or model changed.
    pub fn set_token_layout(&mut self, frame_len: usize, m: usize) {
        self.pinned = vec![0.0; frame_len];
        self.has_pinned = false;
        self.recent = Ring::new(m, frame_len);
    }

    /// Sizes the embedding memory for E / D once they are known (first decode); a no-op
    /// when they already match.
    pub fn set_emb_dims(&mut self, e: usize, d: usize, assoc_memory: usize) {
        if self.embeddings.slot_len() != e || self.embeddings.capacity() != assoc_memory {
            self.embeddings = Ring::new(assoc_memory, e);
            self.mean_emb = RunningMean::new(e);
        }
        if self.class_emb.mean.len() != d {
            self.class_emb = RunningMean::new(d);
        }
    }

    /// Number of token frames available (pinned + FIFO).
    pub fn token_frames(&self) -> usize {
        self.has_pinned as usize + self.recent.len()
    }

    /// Copies pinned then FIFO tokens (oldest first) into `row` ([T, C]) and marks them in
    /// `valid`; the rest of the row is zero padding. Returns the number of valid tokens.
    pub fn write_prompt(&self, row: &mut [f32], valid: &mut [f32]) -> usize {
        row.iter_mut().for_each(|v| *v = 0.0);
        valid.iter_mut().for_each(|v| *v = 0.0);
        let frame = self.pinned.len();
        let mut off = 0;
        let mut put = |src: &[f32], off: &mut usize| {
            if *off + frame <= row.len() {
                row[*off..*off + frame].copy_from_slice(src);
                *off += frame;
            }
        };
        if self.has_pinned {
            put(&self.pinned, &mut off);
        }
        for k in 0..self.recent.len() {
            put(self.recent.get(k), &mut off);
        }
        // Valid tokens = filled values / C, with C = row length / tokens per row.
        let c = row.len() / valid.len().max(1);
        let n = off / c.max(1);
        valid[..n].iter_mut().for_each(|v| *v = 1.0);
        n
    }

    /// f32 values held by the pool (fixed at creation).
    pub fn footprint(&self) -> usize {
        self.pinned.len() + self.recent.footprint() + self.embeddings.footprint() + self.mean_emb.mean.len() + self.class_emb.mean.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_last_entries_in_order() {
        let mut r = Ring::new(3, 1);
        for v in 0..5 {
            r.push(&[v as f32]);
        }
        assert_eq!(r.len(), 3);
        let got: Vec<f32> = (0..3).map(|k| r.get(k)[0]).collect();
        assert_eq!(got, vec![2.0, 3.0, 4.0]);
        assert_eq!(r.footprint(), 3);
    }

    #[test]
    fn running_mean_caps_window() {
        let mut m = RunningMean::new(1);
        m.update(&[2.0], 2);
        assert_eq!(m.mean[0], 2.0);
        m.update(&[4.0], 2);
        assert_eq!(m.mean[0], 3.0);
        m.update(&[5.0], 2); // window 2: 3 + (5 - 3) / 2
        assert_eq!(m.mean[0], 4.0);
    }

    #[test]
    fn weighted_mean_favours_heavy_entries_and_caps_by_the_largest() {
        let mut m = RunningMean::new(1);
        m.update_weighted(&[0.0], 1.0, 10);
        m.update_weighted(&[4.0], 3.0, 10); // (0 * 1 + 4 * 3) / 4
        assert_eq!(m.mean[0], 3.0);
        m.update_weighted(&[9.0], 0.0, 10);
        assert_eq!(m.mean[0], 3.0, "a zero weight adds nothing");
        let mut c = RunningMean::new(1);
        c.update_weighted(&[2.0], 4.0, 1); // window 1: the total is capped at 1 x 4
        c.update_weighted(&[6.0], 2.0, 1); // 2 + (6 - 2) * 2 / 4
        assert_eq!(c.mean[0], 4.0);
        assert!(!RunningMean::new(1).is_set() && c.is_set());
    }

    #[test]
    fn prompt_row_is_pinned_then_fifo_then_padding() {
        // R = 1 token of C = 2 channels, M = 2 FIFO frames -> T = 3 tokens per row.
        let mut p = MemoryPool::new(1, 2, 2, 3, 4, 4);
        p.pinned.copy_from_slice(&[1.0, 1.0]);
        p.has_pinned = true;
        p.recent.push(&[2.0, 2.0]);
        let mut row = vec![9.0; 6];
        let mut valid = vec![9.0; 3];
        assert_eq!(p.write_prompt(&mut row, &mut valid), 2);
        assert_eq!(row, vec![1.0, 1.0, 2.0, 2.0, 0.0, 0.0]);
        assert_eq!(valid, vec![1.0, 1.0, 0.0]);
    }
}
