//! Replies on `segstream/<stream>/responses`: one per command message.
use serde::{Deserialize, Serialize};

/// What became of one command: refused by the MQTT side's check, or applied / refused
/// by `segment` (reported downstream in the `segstream-command-result` event).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The request's `id` when it could be read.
    pub id: Option<String>,
    /// The command's name when it could be read.
    pub command: Option<String>,
    /// `None`: applied.
    pub error: Option<String>,
    /// Applied: the first frame processed with it. Refused: the last frame processed.
    pub frame: Option<u64>,
    /// The track id an applied `add_target` / `add_text_target` gave the new target, or
    /// the one `remove_target` removed.
    pub track_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub schema_version: u32,
    pub stream: String,
    pub id: Option<String>,
    pub command: Option<String>,
    pub ok: bool,
    /// `applied`: `segment` applied it (its effect is in the frame `frame`);
    /// `rejected`: see `error`, nothing changed.
    pub status: String,
    pub error: Option<String>,
    pub frame: Option<u64>,
    /// See [`Outcome::track_id`]; `null` otherwise.
    pub track_id: Option<u64>,
}

impl Reply {
    pub fn new(stream: &str, o: &Outcome) -> Reply {
        Reply {
            schema_version: crate::output::SCHEMA_VERSION,
            stream: stream.into(),
            id: o.id.clone(),
            command: o.command.clone(),
            ok: o.error.is_none(),
            status: if o.error.is_none() { "applied" } else { "rejected" }.into(),
            error: o.error.clone(),
            frame: o.frame,
            track_id: o.track_id,
        }
    }
}
