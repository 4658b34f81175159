//! Quality of service in `segment`: late frames are dropped before the model runs, and the
//! latency query answers the model's real processing time.
//!
//! A frame is late when downstream said so (a QoS event from a synchronising sink: its
//! running time is at or before the earliest time downstream can still use, as in
//! GstBaseTransform) or, with a live upstream, when it reaches `segment` more than
//! `max-lateness` after its capture deadline (running time + upstream's minimum latency):
//! it waited behind slower frames, and running the model on it would only make every
//! later frame later. A dropped frame still counts in the frame numbering (the meta's
//! `frame` skips it) and advances the tracker's frame clock (`Tracker::skip`); nothing is
//! output for it. Each drop posts the standard QoS message.
//!
//! The latency `segment` adds is the 95th percentile of the last [`WINDOW`] frames'
//! processing times, at most [`MAX_LATENCY`]. When it grows by more than a quarter (and
//! 5 ms), a latency message asks the application to re-configure the pipeline latency.
use super::{Segment, CAT};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use std::time::Duration;

/// Frames whose processing time the latency estimate covers (about a second at 30 fps).
pub(super) const WINDOW: usize = 32;
/// Upper bound of the latency `segment` reports, whatever one frame took.
pub(super) const MAX_LATENCY: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// Default `max-lateness`: 40 ms, a little over one frame interval at 30 fps.
pub const DEFAULT_MAX_LATENESS: i64 = 40_000_000;
/// Growth of the estimate over the last reported latency that posts a latency message.
const REPORT_GROWTH: Duration = Duration::from_millis(5);

/// QoS state, shared by the streaming thread and the threads that deliver events and queries.
#[derive(Debug)]
pub(super) struct Qos {
    /// Earliest running time downstream can still use (last QoS event); None: no QoS event.
    earliest: Option<gst::ClockTime>,
    proportion: f64,
    /// Upstream's (live, minimum latency), from the last latency query that passed through.
    upstream: Option<(bool, gst::ClockTime)>,
    processed: u64,
    dropped: u64,
    /// Processing times of the last frames (ns), a ring of `filled` entries.
    times: [u64; WINDOW],
    filled: usize,
    next: usize,
    /// The latency answered by the last query.
    reported: gst::ClockTime,
}

impl Default for Qos {
    fn default() -> Self {
        Qos {
            earliest: None,
            proportion: 1.0,
            upstream: None,
            processed: 0,
            dropped: 0,
            times: [0; WINDOW],
            filled: 0,
            next: 0,
            reported: gst::ClockTime::ZERO,
        }
    }
}

impl Qos {
    /// Records one frame's processing time; true when the estimate grew enough over the
    /// reported latency that the pipeline should re-query it.
    pub(super) fn record(&mut self, took: Duration) -> bool {
        self.processed += 1;
        self.times[self.next] = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.next = (self.next + 1) % WINDOW;
        self.filled = (self.filled + 1).min(WINDOW);
        let (est, rep) = (self.estimate().nseconds(), self.reported.nseconds());
        est > rep + (rep / 4).max(REPORT_GROWTH.as_nanos() as u64)
    }

    /// The 95th percentile (nearest rank) of the window, capped at `MAX_LATENCY`.
    pub(super) fn estimate(&self) -> gst::ClockTime {
        if self.filled == 0 {
            return gst::ClockTime::ZERO;
        }
        let mut sorted = self.times;
        let window = &mut sorted[..self.filled];
        window.sort_unstable();
        let rank = (self.filled * 95).div_ceil(100).max(1);
        gst::ClockTime::from_nseconds(window[rank - 1]).min(MAX_LATENCY)
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// New stream or flush: downstream's earlier lateness no longer applies.
    pub(super) fn reset_stream(&mut self) {
        self.earliest = None;
        self.proportion = 1.0;
    }
}

impl Segment {
    /// How late `buf` is, when it must be dropped: (running time, jitter in ns).
    pub(super) fn late(&self, buf: &gst::BufferRef) -> Option<(gst::ClockTime, i64)> {
        let segment = self.obj().segment();
        let rt = segment.downcast_ref::<gst::ClockTime>()?.to_running_time(buf.pts()?)?;
        let max_lateness = self.settings.lock().unwrap().max_lateness;
        let (earliest, upstream) = {
            let q = self.qos.lock().unwrap();
            (q.earliest, q.upstream)
        };
        if let Some(e) = earliest.filter(|e| rt <= *e) {
            return Some((rt, (e - rt).nseconds() as i64));
        }
        let (true, upstream_min) = upstream? else { return None };
        if max_lateness < 0 {
            return None;
        }
        let now = self.obj().current_running_time()?;
        let late = now.nseconds() as i64 - (rt + upstream_min).nseconds() as i64;
        (late > max_lateness).then_some((rt, late))
    }

    /// Drops `buf` unprocessed: counted, numbered (the next frame's number skips it), the
    /// tracker told, and the QoS message posted.
    pub(super) fn drop_late(&self, buf: &gst::Buffer, rt: gst::ClockTime, jitter: i64) {
        let (processed, dropped, proportion, live) = {
            let mut q = self.qos.lock().unwrap();
            q.dropped += 1;
            (q.processed, q.dropped, q.proportion, q.upstream.is_some_and(|u| u.0))
        };
        let frame = match self.state.lock().unwrap().as_mut() {
            Some(state) => {
                state.segmenter.tracker_mut().skip(1);
                state.frame += 1;
                state.frame - 1
            }
            None => 0,
        };
        gst::debug!(CAT, imp = self, "frame {} dropped: {} ms late", frame, jitter / 1_000_000);
        self.obj().notify("frames-dropped");
        let segment = self.obj().segment();
        let stream_time = segment.downcast_ref::<gst::ClockTime>().and_then(|s| s.to_stream_time(buf.pts()?));
        let msg = gst::message::Qos::builder(live)
            .running_time(rt)
            .stream_time(stream_time)
            .timestamp(buf.pts())
            .duration(buf.duration())
            .values(jitter, proportion, 1_000_000)
            .stats(gst::format::Buffers::from_u64(processed), gst::format::Buffers::from_u64(dropped))
            .src(&*self.obj())
            .build();
        let _ = self.obj().post_message(msg);
    }

    /// Takes a downstream QoS event (as GstBaseTransform does: earliest = timestamp + diff).
    pub(super) fn on_qos_event(&self, ev: &gst::event::Qos) {
        let (_, proportion, diff, timestamp) = ev.get();
        let Some(ts) = timestamp else { return };
        let earliest = ts.nseconds().saturating_add_signed(diff);
        let mut q = self.qos.lock().unwrap();
        q.proportion = proportion;
        q.earliest = Some(gst::ClockTime::from_nseconds(earliest));
    }

    /// Adds this element's processing latency to upstream's answer (latency query on src).
    pub(super) fn answer_latency(&self, query: &mut gst::QueryRef) {
        let gst::QueryViewMut::Latency(q) = query.view_mut() else { return };
        let (live, min, max) = q.result();
        let ours = {
            let mut qos = self.qos.lock().unwrap();
            qos.upstream = Some((live, min));
            qos.reported = qos.estimate();
            qos.reported
        };
        gst::debug!(CAT, imp = self, "latency: upstream {} (live {}), ours {}", min, live, ours);
        q.set(live, min + ours, max.map(|m| m + ours));
    }

    /// Records a processed frame's time; posts a latency message when the estimate grew.
    pub(super) fn processed(&self, took: Duration) {
        let grew = self.qos.lock().unwrap().record(took);
        if grew {
            gst::debug!(CAT, imp = self, "processing latency grew: posting a latency message");
            let _ = self.obj().post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_the_95th_percentile_of_the_window_and_growth_is_reported_once() {
        let mut q = Qos::default();
        assert_eq!(q.estimate(), gst::ClockTime::ZERO);
        assert!(q.record(Duration::from_millis(30)), "0 -> 30 ms grew");
        q.reported = q.estimate();
        for _ in 0..WINDOW - 2 {
            assert!(!q.record(Duration::from_millis(30)));
        }
        assert!(!q.record(Duration::from_millis(80)), "one slow frame in 32 stays above the 95th percentile");
        assert_eq!(q.estimate(), gst::ClockTime::from_mseconds(30));
        assert!(!q.record(Duration::from_millis(36)), "a second one moves it, by less than a quarter");
        assert_eq!(q.estimate(), gst::ClockTime::from_mseconds(36));
        let grew: Vec<bool> = (0..WINDOW).map(|_| q.record(Duration::from_millis(50))).collect();
        assert!(grew.contains(&true), "50 ms frames: more than a quarter above the 30 ms reported");
        for _ in 0..WINDOW {
            q.record(Duration::from_secs(9));
        }
        assert_eq!(q.estimate(), MAX_LATENCY);
    }
}
