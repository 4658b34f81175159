//! Frames dropped before the tracker (a live source faster than the model: `segment`
//! drops late frames unprocessed). The tracker's frame clock counts stream frames, so
//! detection keeps its cadence and lost targets age by the time that really passed.
use super::Tracker;

impl Tracker {
    /// Records `frames` stream frames that were dropped unprocessed; nothing is output for
    /// them. The frame clock advances (the detection cadence counts stream frames: a
    /// detection frame that was dropped moves detection to the next processed frame). A
    /// target already missing on the last processed frame ages by `frames` (lost after
    /// `lost_after`, forgotten after `max_age` stream frames); a target seen on it does not
    /// age, since a dropped frame is no evidence that it left.
    pub fn skip(&mut self, frames: u64) {
        if frames == 0 {
            return;
        }
        self.frame += frames;
        self.tracks.clear();
        self.detected = false;
        let unseen = u32::try_from(frames).unwrap_or(u32::MAX);
        let cfg = &self.config;
        self.targets.retain_mut(|t| t.misses == 0 || t.pending.is_some() || t.on_unseen(unseen, cfg));
    }

    /// Stream frames since the last reset (processed and skipped): the number of the next frame.
    pub fn frame_clock(&self) -> u64 {
        self.frame
    }
}
