//! Encoding ahead in `segment` (property `encode-ahead`): frame N's encoder runs on the
//! segmenter's encoder thread while frame N-1 is tracked here, so each buffer leaves one
//! frame late. `submit_input_buffer` takes frame N, holds it, and hands frame N-1 (with its
//! meta) to `generate_output`. A serialized event (EOS, caps, segment, gap, ...) first
//! finishes and pushes the held frame, so no event overtakes a buffer; a flush forgets it.
use super::{Segment, State, CAT};
use crate::frame;
use crate::meta;
use crate::segment::EncodeAhead;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;

/// Cores this process may use, read once: `available_parallelism` reads the cgroup's CPU
/// quota from files, which the per-frame decision must not do.
static CORES: LazyLock<usize> = LazyLock::new(|| std::thread::available_parallelism().map_or(1, usize::from));

/// The frame `segment` holds while the encoder thread encodes it.
pub(super) struct Held {
    pub index: u64,
    pub buffer: gst::Buffer,
}

impl Segment {
    /// Whether this frame goes through the encoder thread (see `EncodeAhead`).
    pub(super) fn ahead_wanted(&self, state: &mut State) -> bool {
        let mode = self.settings.lock().unwrap().encode_ahead;
        if mode == EncodeAhead::Off || !state.segmenter.can_encode_ahead() {
            return false;
        }
        if mode == EncodeAhead::On {
            return true;
        }
        let live = *state.upstream_live.get_or_insert_with(|| self.upstream_is_live());
        !live && *CORES >= 2 * state.segmenter.engine_users()
    }

    /// Asks upstream whether it is live (a latency query); no answer counts as not live.
    fn upstream_is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        let live = self.obj().sink_pad().peer_query(&mut q) && q.result().0;
        gst::debug!(CAT, imp = self, "upstream is {}live", if live { "" } else { "not " });
        live
    }

    /// Takes frame N: starts its encoding and finishes frame N-1, whose buffer (with its
    /// meta) `generate_output` then pushes.
    pub(super) fn submit_ahead(&self, inbuf: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (info, index) = self.begin_frame(state)?;
        let mapped = self.map(inbuf.as_ref(), &info, index)?;
        let frame_ref = frame::frame_ref(&mapped).ok_or(gst::FlowError::NotSupported)?;
        // Taken only now: a frame that cannot be mapped leaves the held one in place.
        let mut previous = state.held.take();
        let outcome = Self::encode_and_finish(state, &frame_ref, index, &mut previous);
        drop(mapped);
        let in_flight = state.segmenter.ahead_in_flight();
        if in_flight == Some(index) {
            state.held = Some(Held { index, buffer: inbuf });
            state.frame += 1;
        } else if in_flight.is_some() && previous.as_ref().map(|h| h.index) == in_flight {
            state.held = previous; // this frame failed before its encoding started
        }
        let took = outcome.map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("segment: frame {}: {}", index, e));
            gst::FlowError::Error
        })?;
        self.targets.store(state.segmenter.tracker_mut().target_count() as u32, Ordering::Relaxed);
        drop(guard);
        self.ahead.store(true, Ordering::Relaxed);
        if let Some(took) = took {
            self.processed(took);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Starts encoding this frame; when the frame before it is done, its meta goes on its
    /// buffer (`previous`, then taken) and that buffer becomes `state.ready`.
    fn encode_and_finish(
        state: &mut State,
        frame_ref: &segstream::segmenter::FrameRef,
        index: u64,
        previous: &mut Option<Held>,
    ) -> Result<Option<std::time::Duration>, String> {
        match state.segmenter.process_ahead(frame_ref, index) {
            Ok(Some((result, took))) => {
                let mut done = previous.take().ok_or_else(|| format!("frame {} finished, but no buffer was held for it", result.frame))?;
                meta::attach(done.buffer.make_mut(), result);
                state.ready = Some(done.buffer);
                Ok(Some(took))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Finishes the held frame and pushes it (and a frame still waiting for
    /// `generate_output`): before a serialized event, a late frame's drop, or a switch back
    /// to finishing every frame at once. Returns the last push's outcome.
    pub(super) fn drain_ahead(&self, why: &str) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Taken out under the state lock; pushed after it is released.
        let (ready, finished) = {
            let mut guard = self.state.lock().unwrap();
            let Some(state) = guard.as_mut() else { return Ok(gst::FlowSuccess::Ok) };
            let ready = state.ready.take();
            let finished = match state.held.take() {
                Some(held) => Some(self.finish_held(state, held, why)?),
                None => None,
            };
            (ready, finished)
        };
        self.push_all(ready, finished)
    }

    /// The held frame with its meta (tracked now, its encoding awaited).
    fn finish_held(&self, state: &mut State, mut held: Held, why: &str) -> Result<gst::Buffer, gst::FlowError> {
        gst::debug!(CAT, imp = self, "{}: finishing frame {} (encoded ahead)", why, held.index);
        match state.segmenter.finish_ahead() {
            Ok(Some((result, _))) => meta::attach(held.buffer.make_mut(), result),
            Ok(None) => gst::warning!(CAT, imp = self, "frame {} was not with the encoder thread", held.index),
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("segment: frame {}: {}", held.index, e));
                return Err(gst::FlowError::Error);
            }
        }
        self.targets.store(state.segmenter.tracker_mut().target_count() as u32, Ordering::Relaxed);
        Ok(held.buffer)
    }

    fn push_all(&self, first: Option<gst::Buffer>, second: Option<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut last = Ok(gst::FlowSuccess::Ok);
        for buf in first.into_iter().chain(second) {
            last = self.obj().src_pad().push(buf);
        }
        last
    }

    /// Flush: the held frame is dropped untracked.
    pub(super) fn discard_ahead(&self) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.segmenter.discard_ahead();
            state.held = None;
            state.ready = None;
        }
    }

    /// The frame `submit_ahead` finished, for `generate_output`.
    pub(super) fn take_ready(&self) -> Option<gst::Buffer> {
        self.state.lock().unwrap().as_mut()?.ready.take()
    }
}
