//! Commands received on `segstream/<stream>/commands`: types and validation.
//!
//! Input is untrusted: every command is checked against the stream's current state
//! (frame size, frame number, live track ids) before anything changes. A valid command
//! becomes a [`Request`] whose canonical JSON (`Request::to_json`) is what travels to the
//! `segment` element in the `segstream-command` custom upstream event (field `json`);
//! `segment` parses it back with [`Request::from_json`]. Coordinates are frame pixels.
use crate::rle::{self, Rle};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Largest accepted command message.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
const MAX_POINTS: usize = 64;
const MAX_NAMES: usize = 1000;
const MAX_TEXT: usize = 256;
const MAX_ID: usize = 128;
const MAX_MASK_SIDE: usize = 8192;

/// Shape of a new target, in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `[x, y, w, h]`.
    Box([f32; 4]),
    /// `[[x, y], ...]`.
    Points(Vec<[f32; 2]>),
    /// COCO RLE; `size` may differ from the frame (it is rescaled to the frame).
    Mask(Rle),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    AddTarget {
        /// Frame the coordinates refer to (informational; applied at the next frame).
        frame: Option<u64>,
        #[serde(flatten)]
        target: Target,
        label: Option<String>,
    },
    AddTextTarget {
        text: String,
    },
    RemoveTarget {
        track_id: u64,
    },
    SetVocabulary {
        names: Vec<String>,
    },
    SetDetectInterval {
        interval: u32,
    },
}

/// A validated command with the client's optional request id (echoed in the reply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: Option<String>,
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    /// Canonical JSON (the `json` field of the `segstream-command` event).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("request serializes")
    }

    /// Parses canonical JSON produced by [`Request::to_json`].
    pub fn from_json(s: &str) -> Result<Request, String> {
        serde_json::from_str(s).map_err(|e| format!("segstream-command json: {e}"))
    }

    pub fn name(&self) -> &'static str {
        self.command.name()
    }
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::AddTarget { .. } => "add_target",
            Command::AddTextTarget { .. } => "add_text_target",
            Command::RemoveTarget { .. } => "remove_target",
            Command::SetVocabulary { .. } => "set_vocabulary",
            Command::SetDetectInterval { .. } => "set_detect_interval",
        }
    }
}

/// What validation needs to know about the stream.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// Size of the last frame; `None` before the first frame.
    pub frame_size: Option<(usize, usize)>,
    /// Number of the last frame published.
    pub frame: Option<u64>,
    /// Track ids that exist (present or recently lost).
    pub known_ids: BTreeSet<u64>,
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

/// Validates one raw message.
pub fn validate(raw: &[u8], ctx: &CommandContext) -> Result<Request, CommandError> {
    let fail = |id: Option<String>, cmd: Option<String>, m: String| CommandError { id, command: cmd, message: m };
    if raw.len() > MAX_COMMAND_BYTES {
        return Err(fail(None, None, format!("payload of {} bytes exceeds the {MAX_COMMAND_BYTES}-byte command limit", raw.len())));
    }
    let value: Value = serde_json::from_slice(raw).map_err(|e| fail(None, None, format!("bad JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(fail(None, None, "a command must be a JSON object".into()));
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_ID => Some(s.clone()),
        Some(_) => return Err(fail(None, None, format!("`id` must be a string of at most {MAX_ID} bytes"))),
    };
    let name = match obj.get("command") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(fail(id, None, "`command` must be a string".into())),
        None => return Err(fail(id, None, "missing field `command`".into())),
    };
    let f = Fields { obj: &obj, cmd: name.clone() };
    let command = match name.as_str() {
        "add_target" => add_target(&f, ctx),
        "add_text_target" => f.only(&["text"]).and_then(|_| Ok(Command::AddTextTarget { text: f.text("text", MAX_TEXT)? })),
        "remove_target" => remove_target(&f, ctx),
        "set_vocabulary" => set_vocabulary(&f),
        "set_detect_interval" => f.only(&["interval"]).and_then(|_| {
            let n = f.uint("interval")?;
            if !(1..=10_000).contains(&n) {
                return Err(format!("set_detect_interval: `interval` must be in 1..=10000, got {n}"));
            }
            Ok(Command::SetDetectInterval { interval: n as u32 })
        }),
        other => Err(format!(
            "unknown command `{other}` (known: add_target, add_text_target, remove_target, set_vocabulary, set_detect_interval)"
        )),
    };
    command.map(|command| Request { id: id.clone(), command }).map_err(|m| fail(id, Some(name), m))
}

fn add_target(f: &Fields, ctx: &CommandContext) -> Result<Command, String> {
    f.only(&["frame", "box", "points", "mask", "label"])?;
    let (w, h) = ctx.frame_size.ok_or("add_target: no frame has been processed yet, the frame size is unknown")?;
    let frame = match f.obj.get("frame") {
        None | Some(Value::Null) => None,
        Some(_) => Some(f.uint("frame")?),
    };
    if let (Some(fr), Some(cur)) = (frame, ctx.frame) {
        if fr > cur {
            return Err(format!("add_target: frame {fr} has not been processed yet (last frame is {cur})"));
        }
    }
    let given: Vec<&str> = ["box", "points", "mask"].into_iter().filter(|k| f.obj.contains_key(*k)).collect();
    if given.len() != 1 {
        return Err(format!("add_target: give exactly one of `box`, `points`, `mask` (got {})", given.len()));
    }
    let target = match given[0] {
        "box" => Target::Box(check_box(f.numbers("box", 4)?, w, h)?),
        "points" => Target::Points(points(f, w, h)?),
        _ => Target::Mask(mask(f)?),
    };
    let label = match f.obj.get("label") {
        None | Some(Value::Null) => None,
        Some(_) => Some(f.text("label", MAX_TEXT)?),
    };
    Ok(Command::AddTarget { frame, target, label })
}

fn check_box(b: Vec<f32>, w: usize, h: usize) -> Result<[f32; 4], String> {
    let [x, y, bw, bh] = [b[0], b[1], b[2], b[3]];
    if bw <= 0.0 || bh <= 0.0 {
        return Err(format!("add_target: box [{x}, {y}, {bw}, {bh}] has no area"));
    }
    if x < 0.0 || y < 0.0 || x + bw > w as f32 || y + bh > h as f32 {
        return Err(format!("add_target: box [{x}, {y}, {bw}, {bh}] is outside the {w}x{h} frame"));
    }
    Ok([x, y, bw, bh])
}

fn points(f: &Fields, w: usize, h: usize) -> Result<Vec<[f32; 2]>, String> {
    let Some(Value::Array(items)) = f.obj.get("points") else {
        return Err("add_target: `points` must be an array of [x, y]".into());
    };
    if items.is_empty() || items.len() > MAX_POINTS {
        return Err(format!("add_target: `points` must hold 1..={MAX_POINTS} points, got {}", items.len()));
    }
    items
        .iter()
        .map(|p| {
            let v = numbers_of(p, 2).ok_or("add_target: each point must be [x, y] with finite numbers")?;
            if v[0] < 0.0 || v[1] < 0.0 || v[0] >= w as f32 || v[1] >= h as f32 {
                return Err(format!("add_target: point [{}, {}] is outside the {w}x{h} frame", v[0], v[1]));
            }
            Ok([v[0], v[1]])
        })
        .collect()
}

fn mask(f: &Fields) -> Result<Rle, String> {
    let rle: Rle = serde_json::from_value(f.obj["mask"].clone())
        .map_err(|e| format!("add_target: `mask` must be a COCO RLE {{\"size\": [h, w], \"counts\": \"...\"}}: {e}"))?;
    let [mh, mw] = rle.size;
    if mh == 0 || mw == 0 || mh > MAX_MASK_SIDE || mw > MAX_MASK_SIDE {
        return Err(format!("add_target: mask size [{mh}, {mw}] must be within 1..={MAX_MASK_SIDE}"));
    }
    let m = rle::decode(&rle).map_err(|e| format!("add_target: mask: {e}"))?;
    if m.area() == 0 {
        return Err("add_target: mask is empty".into());
    }
    Ok(rle)
}

fn remove_target(f: &Fields, ctx: &CommandContext) -> Result<Command, String> {
    f.only(&["track_id"])?;
    let id = f.uint("track_id")?;
    if !ctx.known_ids.contains(&id) {
        let known: Vec<_> = ctx.known_ids.iter().take(20).collect();
        return Err(format!("remove_target: unknown track id {id} (known: {known:?})"));
    }
    Ok(Command::RemoveTarget { track_id: id })
}

fn set_vocabulary(f: &Fields) -> Result<Command, String> {
    f.only(&["names"])?;
    let Some(Value::Array(items)) = f.obj.get("names") else {
        return Err("set_vocabulary: `names` must be an array of strings".into());
    };
    if items.is_empty() || items.len() > MAX_NAMES {
        return Err(format!("set_vocabulary: `names` must hold 1..={MAX_NAMES} names, got {}", items.len()));
    }
    let mut seen = BTreeSet::new();
    let mut names = Vec::with_capacity(items.len());
    for v in items {
        match v {
            Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_TEXT => {
                if !seen.insert(s.as_str()) {
                    return Err(format!("set_vocabulary: duplicate name `{s}`"));
                }
                names.push(s.clone());
            }
            _ => return Err(format!("set_vocabulary: names must be non-empty strings of at most {MAX_TEXT} bytes")),
        }
    }
    Ok(Command::SetVocabulary { names })
}

fn numbers_of(v: &Value, n: usize) -> Option<Vec<f32>> {
    let arr = v.as_array().filter(|a| a.len() == n)?;
    let out: Vec<f32> = arr.iter().filter_map(|x| x.as_f64().map(|f| f as f32)).filter(|f| f.is_finite()).collect();
    (out.len() == n).then_some(out)
}

/// Typed access to one command's fields with errors naming command and field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    cmd: String,
}

impl Fields<'_> {
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        match self.obj.keys().find(|k| !["id", "command"].contains(&k.as_str()) && !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("{}: unknown field `{k}` (allowed: {})", self.cmd, allowed.join(", "))),
            None => Ok(()),
        }
    }

    fn uint(&self, key: &str) -> Result<u64, String> {
        match self.obj.get(key) {
            Some(v) => v.as_u64().ok_or_else(|| format!("{}: `{key}` must be a non-negative integer, got {v}", self.cmd)),
            None => Err(format!("{}: missing field `{key}`", self.cmd)),
        }
    }

    fn text(&self, key: &str, max: usize) -> Result<String, String> {
        match self.obj.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max => Ok(s.clone()),
            Some(_) => Err(format!("{}: `{key}` must be a non-empty string of at most {max} bytes", self.cmd)),
            None => Err(format!("{}: missing field `{key}`", self.cmd)),
        }
    }

    fn numbers(&self, key: &str, n: usize) -> Result<Vec<f32>, String> {
        numbers_of(&self.obj[key], n).ok_or_else(|| format!("{}: `{key}` must be an array of {n} finite numbers", self.cmd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::Mask;

    fn ctx() -> CommandContext {
        CommandContext { frame_size: Some((320, 240)), frame: Some(10), known_ids: [1, 2].into_iter().collect() }
    }

    fn err(raw: &str) -> String {
        validate(raw.as_bytes(), &ctx()).unwrap_err().message
    }

    #[test]
    fn valid_commands_round_trip_through_canonical_json() {
        let mut m = Mask::new(8, 6);
        m.set(2, 3, true);
        let rle = serde_json::to_string(&rle::encode(&m)).unwrap();
        let cases = [
            r#"{"id":"a","command":"add_target","frame":10,"box":[10,20,30,40],"label":"cup"}"#.to_string(),
            r#"{"command":"add_target","points":[[1,2],[319,239]]}"#.to_string(),
            format!(r#"{{"command":"add_target","mask":{rle}}}"#),
            r#"{"command":"add_text_target","text":"red disc"}"#.to_string(),
            r#"{"command":"remove_target","track_id":2}"#.to_string(),
            r#"{"command":"set_vocabulary","names":["disc","ring"]}"#.to_string(),
            r#"{"command":"set_detect_interval","interval":5}"#.to_string(),
        ];
        for raw in cases {
            let req = validate(raw.as_bytes(), &ctx()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(Request::from_json(&req.to_json()).unwrap(), req, "{raw}");
        }
        let req = validate(br#"{"id":"a","command":"add_target","box":[1,2,3,4]}"#, &ctx()).unwrap();
        assert_eq!(req.id.as_deref(), Some("a"));
        assert_eq!(req.command, Command::AddTarget { frame: None, target: Target::Box([1.0, 2.0, 3.0, 4.0]), label: None });
    }

    #[test]
    fn malformed_commands_name_the_cause() {
        assert!(err("{not json").starts_with("bad JSON"));
        assert!(err("[1,2]").contains("JSON object"));
        assert!(err(r#"{"command":5}"#).contains("`command` must be a string"));
        assert!(err(r#"{"command":"explode"}"#).contains("unknown command `explode`"));
        assert!(err(r#"{"command":"add_target","box":[300,200,50,50]}"#).contains("outside the 320x240 frame"));
        assert!(err(r#"{"command":"add_target","box":"big"}"#).contains("array of 4 finite numbers"));
        assert!(err(r#"{"command":"add_target","box":[1,1,2,2],"points":[[1,1]]}"#).contains("exactly one"));
        assert!(err(r#"{"command":"add_target","frame":11,"box":[1,1,2,2]}"#).contains("not been processed"));
        assert!(err(r#"{"command":"add_target","points":[[400,1]]}"#).contains("outside"));
        assert!(err(r#"{"command":"add_target","mask":{"size":[2,2],"counts":"9"}}"#).contains("mask"));
        assert!(err(r#"{"command":"remove_target","track_id":42}"#).contains("unknown track id 42"));
        assert!(err(r#"{"command":"remove_target","track_id":"1"}"#).contains("non-negative integer"));
        assert!(err(r#"{"command":"set_detect_interval","interval":0}"#).contains("1..=10000"));
        assert!(err(r#"{"command":"set_detect_interval","interval":2,"extra":1}"#).contains("unknown field `extra`"));
        assert!(err(r#"{"command":"set_vocabulary","names":["a","a"]}"#).contains("duplicate"));
        assert!(err(r#"{"command":"add_text_target","text":""}"#).contains("non-empty"));
        let huge = format!(r#"{{"command":"add_text_target","text":"{}"}}"#, "x".repeat(MAX_COMMAND_BYTES));
        assert!(err(&huge).contains("exceeds the 65536-byte"));
        let none = CommandContext::default();
        let e = validate(br#"{"command":"add_target","box":[1,1,2,2]}"#, &none).unwrap_err();
        assert!(e.message.contains("frame size is unknown"));
        assert_eq!(e.command.as_deref(), Some("add_target"));
    }
}

/// Answer on `segstream/<stream>/responses` to every command message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub schema_version: u32,
    pub stream: String,
    /// The request's `id` when it could be read.
    pub id: Option<String>,
    pub command: Option<String>,
    pub ok: bool,
    /// `accepted`: validated and handed to the `segment` element (applied before its next
    /// frame); `rejected`: see `error`, nothing changed.
    pub status: String,
    pub error: Option<String>,
    /// Last frame published when the command arrived.
    pub frame: Option<u64>,
}

impl Reply {
    pub fn accepted(stream: &str, req: &Request, frame: Option<u64>) -> Reply {
        Reply {
            schema_version: crate::output::SCHEMA_VERSION,
            stream: stream.into(),
            id: req.id.clone(),
            command: Some(req.name().into()),
            ok: true,
            status: "accepted".into(),
            error: None,
            frame,
        }
    }

    pub fn error(stream: &str, id: Option<String>, command: Option<String>, error: String, frame: Option<u64>) -> Reply {
        Reply {
            schema_version: crate::output::SCHEMA_VERSION,
            stream: stream.into(),
            id,
            command,
            ok: false,
            status: "rejected".into(),
            error: Some(error),
            frame,
        }
    }
}
