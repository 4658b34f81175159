//! Track events (born / lost / removed) derived by comparing consecutive frames.
//!
//! The tracker does not report events itself; the published stream only needs what a
//! consumer can observe: an id appears, disappears, or stays gone for `remove_after`
//! frames. State is bounded by the number of live and recently lost tracks.
use super::clock::now_rfc3339;
use super::payload::{EventKind, EventPayload, SCHEMA_VERSION};
use crate::frame_result::FrameResult;
use std::collections::BTreeMap;

struct Seen {
    class_id: usize,
    label: String,
    /// Frames in a row the track has been missing (0 = present).
    missing: u32,
}

pub struct EventTracker {
    stream: String,
    remove_after: u32,
    tracks: BTreeMap<u64, Seen>,
}

impl EventTracker {
    pub fn new(stream: impl Into<String>, remove_after: u32) -> Self {
        EventTracker { stream: stream.into(), remove_after: remove_after.max(1), tracks: BTreeMap::new() }
    }

    /// Events of this frame, in track-id order: born first, then lost, then removed.
    pub fn update(&mut self, r: &FrameResult, pts: Option<u64>) -> Vec<EventPayload> {
        let ts = now_rfc3339();
        let mut out = Vec::new();
        for t in self.tracks.values_mut() {
            t.missing += 1;
        }
        for o in &r.objects {
            let entry =
                self.tracks.entry(o.track_id).or_insert_with(|| Seen { class_id: o.class_id, label: o.label.clone(), missing: u32::MAX });
            if entry.missing == u32::MAX {
                out.push((EventKind::Born, o.track_id));
            }
            entry.missing = 0;
            entry.class_id = o.class_id;
            entry.label.clone_from(&o.label);
        }
        for (&id, t) in &self.tracks {
            if t.missing == 1 {
                out.push((EventKind::Lost, id));
            } else if t.missing == self.remove_after + 1 {
                out.push((EventKind::Removed, id));
            }
        }
        self.tracks.retain(|_, t| t.missing <= self.remove_after);
        out.into_iter().map(|(kind, id)| self.event(r.frame, pts, &ts, kind, id)).collect()
    }

    /// A track removed on request (command): emits `removed` now and forgets it.
    pub fn remove(&mut self, id: u64, frame: u64, pts: Option<u64>) -> Option<EventPayload> {
        let ev = self.tracks.contains_key(&id).then(|| self.event(frame, pts, &now_rfc3339(), EventKind::Removed, id));
        self.tracks.remove(&id);
        ev
    }

    /// Ids currently present or lost-but-not-removed.
    pub fn known_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.tracks.keys().copied()
    }

    fn event(&self, frame: u64, pts: Option<u64>, ts: &str, event: EventKind, id: u64) -> EventPayload {
        let t = self.tracks.get(&id);
        EventPayload {
            schema_version: SCHEMA_VERSION,
            stream: self.stream.clone(),
            frame,
            pts,
            timestamp: ts.to_string(),
            event,
            track_id: id,
            class_id: t.map_or(0, |t| t.class_id),
            label: t.map_or_else(String::new, |t| t.label.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_result::ObjectResult;

    fn frame(n: u64, ids: &[u64]) -> FrameResult {
        let objects = ids
            .iter()
            .map(|&id| ObjectResult {
                track_id: id,
                class_id: 1,
                label: "disc".into(),
                score: 0.9,
                bbox: Default::default(),
                mask: Default::default(),
            })
            .collect();
        FrameResult { frame: n, width: 4, height: 4, model: "m".into(), objects }
    }

    fn kinds(ev: &[EventPayload]) -> Vec<(EventKind, u64)> {
        ev.iter().map(|e| (e.event, e.track_id)).collect()
    }

    #[test]
    fn born_lost_removed_sequence() {
        let mut t = EventTracker::new("s", 2);
        assert_eq!(kinds(&t.update(&frame(0, &[1, 2]), None)), vec![(EventKind::Born, 1), (EventKind::Born, 2)]);
        assert_eq!(kinds(&t.update(&frame(1, &[1]), None)), vec![(EventKind::Lost, 2)]);
        assert_eq!(kinds(&t.update(&frame(2, &[1]), None)), vec![]);
        assert_eq!(kinds(&t.update(&frame(3, &[1]), None)), vec![(EventKind::Removed, 2)]);
        // Back after removal: a new birth under the same id.
        assert_eq!(kinds(&t.update(&frame(4, &[1, 2]), None)), vec![(EventKind::Born, 2)]);
        // Lost then back within the window: no new birth.
        t.update(&frame(5, &[1]), None);
        assert_eq!(kinds(&t.update(&frame(6, &[1, 2]), None)), vec![]);
        assert_eq!(t.remove(1, 6, None).unwrap().event, EventKind::Removed);
        assert!(t.remove(99, 6, None).is_none());
    }
}
