//! Commands inside `segment`: queued when the event arrives (any thread), applied by the
//! streaming thread before the next frame, outcome reported downstream when asked for.
use super::{Segment, State, CAT};
use crate::segment::command::{self, Scale, MAX_PENDING};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use segstream::command::{Command, CommandContext, CommandError, Outcome, Request, COMMAND_RESULT_EVENT};
use std::sync::atomic::Ordering;

/// A command event as received: the request or why it is not one, and whether the
/// sender wants the outcome as a downstream `segstream-command-result` event.
pub(super) struct Queued {
    request: Result<Request, CommandError>,
    reply: bool,
}

impl Segment {
    /// Parses and queues a command event. False (with a warning naming the cause) when it
    /// is malformed, impossible for this bundle, or `MAX_PENDING` are waiting, except that
    /// a refusal asked to be reported (`reply=true`) is queued so the cause goes downstream.
    pub(super) fn queue_command(&self, s: &gst::StructureRef) -> bool {
        let reply = s.get::<bool>("reply").unwrap_or(false);
        let request = match command::parse(s) {
            Ok(None) => return false,
            Ok(Some(req)) => match self.text.lock().unwrap().as_ref().and_then(|t| t.refusal(&req.command)) {
                Some(why) => Err(req.error(why)),
                None => Ok(req),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = &request {
            gst::element_imp_warning!(self, gst::StreamError::Format, ("segment: {}", e.message));
            if !reply {
                return false;
            }
        }
        let mut q = self.commands.lock().unwrap();
        if q.len() >= MAX_PENDING {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                ("segment: {} commands already pending, refusing one more", MAX_PENDING)
            );
            return false;
        }
        gst::debug!(CAT, imp = self, "queued {:?}", request);
        q.push_back(Queued { request, reply });
        true
    }

    /// Applies live property changes and queued commands; returns the outcomes to report.
    pub(super) fn apply_pending(&self, state: &mut State) -> Vec<Outcome> {
        if self.tracker_dirty.swap(false, Ordering::AcqRel) {
            let settings = self.settings.lock().unwrap().clone();
            let max = state.segmenter.max_prompts();
            let config = state.segmenter.tracker_mut().config_mut();
            settings.apply_tracker(config);
            // The cap bounds the decoder's prompt batch: past the bundle's limit every frame would fail.
            if config.max_targets > max {
                config.max_targets = max;
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    ("segment: max-targets is capped at the bundle's max_prompts = {}", max)
                );
            }
        }
        let pending: Vec<Queued> = self.commands.lock().unwrap().drain(..).collect();
        let mut report = Vec::new();
        for q in pending {
            let (id, name) = match &q.request {
                Ok(r) => (r.id.clone(), Some(r.name().to_string())),
                Err(e) => (e.id.clone(), e.command.clone()),
            };
            let result = q.request.map_err(|e| e.message).and_then(|req| self.apply(state, &req));
            if let Err(e) = &result {
                gst::element_imp_warning!(self, gst::StreamError::Failed, ("segment: {}", e));
            }
            if q.reply {
                let frame = if result.is_ok() { Some(state.frame) } else { state.frame.checked_sub(1) };
                let (error, track_id) = match result {
                    Ok(t) => (None, t),
                    Err(e) => (Some(format!("segment: {e}")), None),
                };
                report.push(Outcome { id, command: name, error, frame, track_id });
            }
        }
        report
    }

    /// Checks a request against the stream as it is now and applies it; the track id
    /// added or removed, if any.
    fn apply(&self, state: &mut State, req: &Request) -> Result<Option<u64>, String> {
        req.check(&context(state))?;
        let name = req.name();
        let fail = |e: &dyn std::fmt::Display| format!("{name}: {e}");
        match &req.command {
            Command::RemoveTarget { track_id } => match state.segmenter.tracker_mut().remove_target(*track_id) {
                true => Ok(Some(*track_id)),
                false => Err(fail(&format!("no target with id {track_id}"))),
            },
            Command::SetDetectInterval { interval } => {
                self.settings.lock().unwrap().detect_interval = *interval;
                state.segmenter.tracker_mut().config_mut().detect_interval = *interval;
                Ok(None)
            }
            Command::SetVocabulary { names } => {
                state.segmenter.set_vocabulary(names).map_err(|e| fail(&e))?;
                gst::info!(CAT, imp = self, "vocabulary set to {:?}", names);
                self.settings.lock().unwrap().vocabulary = names.join(",");
                Ok(None)
            }
            Command::AddTextTarget { text } => {
                let id = state.segmenter.add_text_target(text).map_err(|e| fail(&e))?;
                self.post_target_added(id, state.frame, Some(text));
                Ok(Some(id))
            }
            Command::AddTarget(a) => {
                let frame_size = state.info.as_ref().map_or((1, 1), |i| (i.width() as usize, i.height() as usize));
                let prompt = command::prompt(&a.target, &Scale::new(frame_size, state.segmenter.input_size())).map_err(|e| fail(&e))?;
                let id = state.segmenter.tracker_mut().add_target(prompt).map_err(|e| fail(&e))?;
                gst::info!(CAT, imp = self, "added target {} from {:?}", id, a.target);
                self.post_target_added(id, state.frame, None);
                Ok(Some(id))
            }
        }
    }

    /// Sends each outcome downstream, ahead of the frame it applies to.
    pub(super) fn report(&self, outcomes: Vec<Outcome>) {
        for o in outcomes {
            let s = gst::Structure::builder(COMMAND_RESULT_EVENT)
                .field("ok", o.error.is_none())
                .field_if_some("id", o.id)
                .field_if_some("command", o.command)
                .field_if_some("error", o.error)
                .field_if_some("frame", o.frame)
                .field_if_some("track-id", o.track_id)
                .build();
            if !self.obj().src_pad().push_event(gst::event::CustomDownstream::new(s)) {
                gst::debug!(CAT, imp = self, "no element downstream took the command result");
            }
        }
    }

    /// Element message `segstream-target-added` (track-id, frame; text for text targets,
    /// whose id is reserved now and appears on the first detection frame that matches).
    fn post_target_added(&self, id: u64, frame: u64, text: Option<&str>) {
        let s = gst::Structure::builder("segstream-target-added")
            .field("track-id", id)
            .field("frame", frame)
            .field_if_some("text", text)
            .build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}

/// The stream as the semantic check sees it in `segment`: caps size, last frame, and
/// every track id the tracker remembers (text targets waiting included).
fn context(state: &mut State) -> CommandContext {
    let tracker = state.segmenter.tracker_mut();
    let mut known_ids: std::collections::BTreeSet<u64> = tracker.targets().into_iter().map(|(id, _)| id).collect();
    known_ids.extend(tracker.pending_text_targets());
    CommandContext {
        frame_size: state.info.as_ref().map(|i| (i.width() as usize, i.height() as usize)),
        frame: state.frame.checked_sub(1),
        known_ids,
    }
}
