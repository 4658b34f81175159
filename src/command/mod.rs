//! Commands: one type and one parser for every way a command arrives.
//!
//! A command reaches `segment` from MQTT (`segstream/<stream>/commands`, checked by the
//! publisher, then carried upstream by `segmqttsink`) or from an application as the
//! `segstream-command` event (`json=...` or the gst-launch form `action=...`). All of
//! them become a [`Request`]: the JSON forms through [`Request::parse`] (serde, unknown
//! fields rejected), the gst-launch form by building the same type; then one semantic
//! step, [`Request::check`], against what the checker knows of the stream (frame size,
//! frame number, live track ids). Input is untrusted: nothing changes before both pass.
//! Coordinates are frame pixels.
mod check;
mod reply;

pub use check::CommandContext;
pub use reply::{Outcome, Reply};

use crate::rle::Rle;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name of the custom event structure that carries a command to `segment`.
pub const COMMAND_EVENT: &str = "segstream-command";
/// Name of the custom downstream event by which `segment` reports what became of a
/// command that asked for it (`reply=true`); `segmqttsink` turns it into the MQTT reply.
pub const COMMAND_RESULT_EVENT: &str = "segstream-command-result";
/// Largest accepted command message.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
const MAX_ID: usize = 128;
const COMMANDS: &str = "add_target, add_text_target, remove_target, set_vocabulary, set_detect_interval";

/// Shape of a new target, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `[x, y, w, h]`.
    Box([f32; 4]),
    /// `[[x, y], ...]`.
    Points(Vec<[f32; 2]>),
    /// COCO RLE; `size` may differ from the frame (it is rescaled to the model input).
    Mask(Rle),
}

/// `add_target`: exactly one of `box`, `points`, `mask` (serde checks that through
/// [`AddTargetFields`], so the type cannot hold zero or two shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AddTargetFields", into = "AddTargetFields")]
pub struct AddTarget {
    /// Frame the coordinates refer to (informational; applied at the next frame).
    pub frame: Option<u64>,
    pub target: Target,
    pub label: Option<String>,
}

/// The JSON fields of `add_target` as sent.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTargetFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    #[serde(rename = "box", default, skip_serializing_if = "Option::is_none")]
    bbox: Option<[f32; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    points: Option<Vec<[f32; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mask: Option<Rle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

impl TryFrom<AddTargetFields> for AddTarget {
    type Error = String;

    fn try_from(f: AddTargetFields) -> Result<Self, String> {
        let target = match (f.bbox, f.points, f.mask) {
            (Some(b), None, None) => Target::Box(b),
            (None, Some(p), None) => Target::Points(p),
            (None, None, Some(m)) => Target::Mask(m),
            (b, p, m) => {
                let n = b.is_some() as u8 + p.is_some() as u8 + m.is_some() as u8;
                return Err(format!("give exactly one of `box`, `points`, `mask` (got {n})"));
            }
        };
        // JSON has no infinity, but a number too large for f32 becomes one: refuse it here
        // so every parsed request has a JSON form (the event carries that form).
        let finite = match &target {
            Target::Box(b) => b.iter().all(|v| v.is_finite()),
            Target::Points(p) => p.iter().flatten().all(|v| v.is_finite()),
            Target::Mask(_) => true,
        };
        if !finite {
            return Err("coordinates must be finite 32-bit numbers".into());
        }
        Ok(AddTarget { frame: f.frame, target, label: f.label })
    }
}

impl From<AddTarget> for AddTargetFields {
    fn from(a: AddTarget) -> Self {
        let mut f = AddTargetFields { frame: a.frame, bbox: None, points: None, mask: None, label: a.label };
        match a.target {
            Target::Box(b) => f.bbox = Some(b),
            Target::Points(p) => f.points = Some(p),
            Target::Mask(m) => f.mask = Some(m),
        }
        f
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    AddTarget(AddTarget),
    AddTextTarget {
        text: String,
    },
    RemoveTarget {
        track_id: u64,
    },
    /// Replace the class list; empty: back to the bundle's vocabulary.
    SetVocabulary {
        names: Vec<String>,
    },
    SetDetectInterval {
        interval: u32,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::AddTarget(_) => "add_target",
            Command::AddTextTarget { .. } => "add_text_target",
            Command::RemoveTarget { .. } => "remove_target",
            Command::SetVocabulary { .. } => "set_vocabulary",
            Command::SetDetectInterval { .. } => "set_detect_interval",
        }
    }
}

/// A command with the client's optional request id (echoed in the reply).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<String>,
    pub command: Command,
}

/// Why a command was refused; the message is sent back verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// Request id if it could be read.
    pub id: Option<String>,
    /// Command name if it could be read.
    pub command: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Request {
    /// The parser (syntax only): JSON bytes -> `Request`. Rejects payloads over
    /// [`MAX_COMMAND_BYTES`], non-objects, unknown commands and fields, wrong types.
    /// Follow with [`Request::check`], or call [`validate`] for both.
    pub fn parse(raw: &[u8]) -> Result<Request, CommandError> {
        let fail =
            |id: &Option<String>, cmd: Option<&str>, m: String| CommandError { id: id.clone(), command: cmd.map(String::from), message: m };
        if raw.len() > MAX_COMMAND_BYTES {
            return Err(fail(&None, None, format!("payload of {} bytes exceeds the {MAX_COMMAND_BYTES}-byte command limit", raw.len())));
        }
        let value: Value = serde_json::from_slice(raw).map_err(|e| fail(&None, None, format!("bad JSON: {e}")))?;
        let Value::Object(mut obj) = value else {
            return Err(fail(&None, None, "a command must be a JSON object".into()));
        };
        let id = match obj.remove("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= MAX_ID => Some(s),
            Some(_) => return Err(fail(&None, None, format!("`id` must be a string of at most {MAX_ID} bytes"))),
        };
        let name = match obj.get("command") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(fail(&id, None, "`command` must be a string".into())),
            None => return Err(fail(&id, None, "missing field `command`".into())),
        };
        if !COMMANDS.split(", ").any(|c| c == name) {
            return Err(fail(&id, Some(&name), format!("unknown command `{name}` (known: {COMMANDS})")));
        }
        let command: Command = serde_json::from_value(Value::Object(obj)).map_err(|e| fail(&id, Some(&name), format!("{name}: {e}")))?;
        Ok(Request { id, command })
    }

    /// Canonical JSON, keys sorted (the `json` field of the `segstream-command` event);
    /// `parse` reads it back.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(&self.command).expect("command serializes");
        if let (Some(id), Value::Object(obj)) = (&self.id, &mut v) {
            obj.insert("id".into(), Value::String(id.clone()));
        }
        v.to_string()
    }

    pub fn name(&self) -> &'static str {
        self.command.name()
    }

    /// The error for this request with `message`.
    pub fn error(&self, message: String) -> CommandError {
        CommandError { id: self.id.clone(), command: Some(self.name().into()), message }
    }
}

/// Parses and checks one raw message: [`Request::parse`] then [`Request::check`].
pub fn validate(raw: &[u8], ctx: &CommandContext) -> Result<Request, CommandError> {
    let req = Request::parse(raw)?;
    req.check(ctx).map_err(|m| req.error(m))?;
    Ok(req)
}

#[cfg(test)]
mod tests;
