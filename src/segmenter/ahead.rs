//! Encoding one frame ahead: the image encoder runs on a thread of its own
//! ([`encoder_thread`](super::encoder_thread)), so frame N+1 is encoded while the tracker
//! (the decoder runs inside it) and the mask postprocessing finish frame N on the caller's
//! thread.
//!
//! The encoder needs only the pixels; everything that carries state from frame to frame
//! (prompts, targets, ids) lives in the tracker, which still sees the frames one by one in
//! order. So the results are those of [`Segmenter::process`]; only each frame's result
//! comes one call later. On a CPU the two halves of a frame take similar times, so a
//! stream can use two cores with one intra-op thread per engine.
//!
//! Buffers: two (image, features) pairs take turns, one with the worker and one with the
//! caller (`Segmenter::spare` holds the idle one), so nothing is allocated per frame once
//! both are warm.
use std::time::{Duration, Instant};

use super::encoder_thread::{EncodeAhead, InFlight};
use super::{no_encoder, FrameRef, FrameResult, Segmenter, SegmenterError};
use crate::model::ModelError;

impl Segmenter {
    /// Whether [`process_ahead`](Self::process_ahead) can run this segmenter's encoder on a
    /// thread of its own: host-memory encoders (the CPU provider) only; a GPU encoder keeps
    /// its device context and stream on the thread that opened it.
    pub fn can_encode_ahead(&self) -> bool {
        self.ahead.is_some() || (self.encoder.as_ref().is_some_and(|e| !e.takes_device_input()) && self.gpu.is_none())
    }

    /// Pipelined [`process`](Self::process): starts encoding `frame` on the encoder thread
    /// (started on first use), then finishes the frame given to the previous call (tracker,
    /// decoder, masks) while the encoder works. Returns that previous frame's result and its
    /// processing time (from its preprocessing to its result); `None` on the first call.
    /// Same results as `process`, one call later (see `segmenter::ahead`); the last frame
    /// comes out of [`finish_ahead`](Self::finish_ahead).
    pub fn process_ahead(&mut self, frame: &FrameRef, frame_index: u64) -> Result<Option<(&FrameResult, Duration)>, SegmenterError> {
        if !self.can_encode_ahead() {
            return Err(SegmenterError::Run("encoding ahead needs a host-memory (CPU provider) encoder".into()));
        }
        let since = Instant::now();
        // Preprocessed while the worker may still be encoding the previous frame.
        self.pre.run(frame, &mut self.image).map_err(|e| SegmenterError::Run(e.to_string()))?;
        let this = InFlight { index: frame_index, width: frame.width, height: frame.height, since, preprocess: since.elapsed() };
        let previous = self.take_encoded();
        let (image, features) = std::mem::take(&mut self.spare);
        let image = std::mem::replace(&mut self.image, image);
        self.ahead_worker()?.submit(this, image, features).map_err(|e| SegmenterError::Run(e.to_string()))?;
        match previous {
            Some(p) => self.track_encoded(p).map(Some),
            None => Ok(None),
        }
    }

    /// Finishes the frame still with the encoder thread (end of stream, new caps, a switch
    /// back to [`process`](Self::process)); `None` when there is none.
    pub fn finish_ahead(&mut self) -> Result<Option<(&FrameResult, Duration)>, SegmenterError> {
        match self.take_encoded() {
            Some(p) => self.track_encoded(p).map(Some),
            None => Ok(None),
        }
    }

    /// Forgets the frame still with the encoder thread without tracking it (flush).
    pub fn discard_ahead(&mut self) {
        if let Some((_, e)) = self.ahead.as_mut().and_then(EncodeAhead::wait) {
            self.spare = (e.image, e.features);
        }
    }

    /// The frame with the encoder thread, if any (its number).
    pub fn ahead_in_flight(&self) -> Option<u64> {
        self.ahead.as_ref()?.in_flight().map(|f| f.index)
    }

    /// Waits for the frame in flight; its features become `self.features` and the buffers
    /// it frees become the spare pair. `Err` inside: the encoder failed on that frame.
    fn take_encoded(&mut self) -> Option<(Result<(), ModelError>, InFlight, Duration)> {
        let (result, mut e) = self.ahead.as_mut()?.wait()?;
        if result.is_ok() {
            std::mem::swap(&mut self.features, &mut e.features);
        }
        self.spare = (e.image, e.features);
        Some((result, e.frame, e.took))
    }

    fn track_encoded(
        &mut self,
        (result, frame, took): (Result<(), ModelError>, InFlight, Duration),
    ) -> Result<(&FrameResult, Duration), SegmenterError> {
        result.map_err(|e| SegmenterError::Run(format!("frame {}: {e}", frame.index)))?;
        self.timing.preprocess = frame.preprocess;
        self.timing.encode = took;
        self.track(frame.width, frame.height, frame.index)?;
        Ok((&self.result, frame.since.elapsed()))
    }

    /// The encoder thread, started on first use with the segmenter's encoder.
    fn ahead_worker(&mut self) -> Result<&mut EncodeAhead, SegmenterError> {
        if self.ahead.is_none() {
            let encoder = self.encoder.take().ok_or_else(no_encoder)?;
            let worker = EncodeAhead::start(encoder).map_err(|e| SegmenterError::Run(format!("starting the encoder thread: {e}")))?;
            self.ahead = Some(worker);
        }
        self.ahead.as_mut().ok_or_else(no_encoder)
    }

    /// Takes the encoder back from the encoder thread, if that has it (it must hold no
    /// frame: finish or discard it first), to run it on this thread.
    pub(super) fn reclaim_encoder(&mut self) -> Result<(), SegmenterError> {
        if let Some(ahead) = self.ahead.take() {
            if let Some(f) = ahead.in_flight() {
                self.ahead = Some(ahead);
                return Err(SegmenterError::Run(format!("frame {} is still being encoded ahead: finish or discard it first", f.index)));
            }
            self.encoder = ahead.stop();
        }
        Ok(())
    }
}
