//! The `segstream-command` custom event: its two forms parsed into the one command type,
//! `segstream::command::Request`, and the prompt an add command gives the tracker.
//!
//! `json=...` goes through `Request::parse` (the MQTT parser); the gst-launch form
//! (`action=add-box, x=.., ...`) builds the same `Request` field by field, refusing
//! unknown fields like serde does. Semantic checks (`Request::check`) run when the command
//! is applied, against the stream as it is then.
use segstream::command::{AddTarget, Command, CommandError, Request, Target, COMMAND_EVENT};
use segstream::rle;
use segstream::tracker::TargetPrompt;

/// Actions of the gst-launch form of the event (`action=...`) and their fields.
const ACTIONS: [(&str, &[&str]); 5] = [
    ("add-box", &["x", "y", "w", "h", "label"]),
    ("remove", &["id"]),
    ("set-vocabulary", &["names"]),
    ("add-text", &["text"]),
    ("set-detect-interval", &["interval"]),
];
/// Fields every form may carry: `reply=true` asks for the outcome as a downstream
/// `segstream-command-result` event (segmqttsink sets it).
const COMMON: [&str; 1] = ["reply"];
/// Commands waiting for the next frame; more are refused (bounded state).
pub const MAX_PENDING: usize = 64;

/// Parses the event structure into a request; `Ok(None)` when it is not a segstream command.
pub fn parse(s: &gst::StructureRef) -> Result<Option<Request>, CommandError> {
    if s.name() != COMMAND_EVENT {
        return Ok(None);
    }
    let fail = |m: String| CommandError { id: None, command: None, message: format!("{COMMAND_EVENT}: {m}") };
    if let Ok(json) = s.get::<&str>("json") {
        if let Some(extra) = s.fields().map(|f| f.as_str()).find(|f| *f != "json" && !COMMON.contains(f)) {
            return Err(fail(format!("unknown field '{extra}' next to 'json'")));
        }
        return Request::parse(json.as_bytes()).map(Some);
    }
    let names = ACTIONS.map(|(a, _)| a).join(", ");
    let action = s.get::<&str>("action").map_err(|_| fail(format!("needs a string field 'action' ({names}) or 'json'")))?;
    let Some((_, fields)) = ACTIONS.iter().find(|(a, _)| *a == action) else {
        return Err(fail(format!("unknown action '{action}' (known: {names})")));
    };
    if let Some(extra) = s.fields().map(|f| f.as_str()).find(|f| *f != "action" && !COMMON.contains(f) && !fields.contains(f)) {
        return Err(fail(format!("{action}: unknown field '{extra}' (allowed: {})", fields.join(", "))));
    }
    from_action(s, action).map(|command| Some(Request { id: None, command })).map_err(|m| fail(format!("{action}: {m}")))
}

fn from_action(s: &gst::StructureRef, action: &str) -> Result<Command, String> {
    Ok(match action {
        "add-box" => {
            let b = [number(s, "x")?, number(s, "y")?, number(s, "w")?, number(s, "h")?];
            let label = match s.has_field("label") {
                true => Some(s.get::<String>("label").map_err(|_| "field 'label' must be a string")?),
                false => None,
            };
            Command::AddTarget(AddTarget { frame: None, target: Target::Box(b), label })
        }
        "remove" => Command::RemoveTarget { track_id: uint(s, "id")? },
        "set-vocabulary" => {
            // Empty or NULL (`names=(string)""`; a bare `""` parses as an int in GStreamer
            // before 1.22): the bundle's vocabulary.
            let names =
                s.get::<Option<String>>("names").map_err(|_| "needs a string field 'names' (comma-separated; empty: the bundle's)")?;
            let names = names.unwrap_or_default();
            Command::SetVocabulary { names: names.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect() }
        }
        "add-text" => Command::AddTextTarget { text: s.get::<String>("text").map_err(|_| "needs a string field 'text'")?.trim().into() },
        _ => {
            let n = uint(s, "interval")?;
            Command::SetDetectInterval { interval: u32::try_from(n).map_err(|_| format!("'interval' {n} is out of range"))? }
        }
    })
}

/// Reads a number given as float, double or int (gst-launch syntax makes any of them).
fn number(s: &gst::StructureRef, key: &str) -> Result<f32, String> {
    let v = s
        .get::<f32>(key)
        .ok()
        .or_else(|| s.get::<f64>(key).ok().map(|v| v as f32))
        .or_else(|| s.get::<i32>(key).ok().map(|v| v as f32))
        .or_else(|| s.get::<u32>(key).ok().map(|v| v as f32));
    // A double beyond f32 (or `inf`) has no JSON form; the MQTT parser refuses it too.
    match v {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) => Err(format!("field '{key}' must be a finite 32-bit number, got {v}")),
        None => Err(format!("needs a number field '{key}'")),
    }
}

/// Reads a non-negative integer given as guint64, guint or int.
fn uint(s: &gst::StructureRef, key: &str) -> Result<u64, String> {
    let v = s
        .get::<u64>(key)
        .ok()
        .or_else(|| s.get::<u32>(key).ok().map(u64::from))
        .or_else(|| s.get::<i32>(key).ok().and_then(|v| u64::try_from(v).ok()));
    v.ok_or_else(|| format!("needs a non-negative integer field '{key}'"))
}

/// Converts frame-pixel geometry to the tracker's model-input pixels.
pub struct Scale {
    pub sx: f32,
    pub sy: f32,
    pub input: (usize, usize),
}

impl Scale {
    pub fn new(frame: (usize, usize), input: (usize, usize)) -> Scale {
        let sx = input.0 as f32 / frame.0.max(1) as f32;
        let sy = input.1 as f32 / frame.1.max(1) as f32;
        Scale { sx, sy, input }
    }
}

/// The tracker prompt for a target. A mask is decoded here, once, straight at the model
/// input size (it may be given at up to 8192x8192).
pub fn prompt(target: &Target, scale: &Scale) -> Result<TargetPrompt, String> {
    Ok(match target {
        Target::Box([x, y, w, h]) => TargetPrompt::Box { x: x * scale.sx, y: y * scale.sy, w: w * scale.sx, h: h * scale.sy },
        Target::Points(p) => TargetPrompt::Points(p.iter().map(|[x, y]| (x * scale.sx, y * scale.sy)).collect()),
        Target::Mask(m) => TargetPrompt::Mask(rle::decode_resized(m, scale.input.0, scale.input.1).map_err(|e| format!("mask: {e}"))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<Request>, String> {
        gst::init().unwrap();
        parse(&s.parse::<gst::Structure>().unwrap()).map_err(|e| e.message)
    }

    fn cmd(s: &str) -> Command {
        parse_str(s).unwrap().unwrap().command
    }

    #[test]
    fn infinite_coordinates_are_refused_in_the_launch_form() {
        let e = parse_str("segstream-command, action=add-box, x=(double)1e300, y=20, w=1, h=4").unwrap_err();
        assert!(e.contains("field 'x' must be a finite 32-bit number"), "{e}");
    }

    #[test]
    fn launch_form_and_json_form_give_the_same_request() {
        let launch = cmd("segstream-command, action=add-box, x=10, y=20.5, w=(float)30, h=40");
        assert_eq!(launch, Command::AddTarget(AddTarget { frame: None, target: Target::Box([10.0, 20.5, 30.0, 40.0]), label: None }));
        let json = gst::Structure::builder(COMMAND_EVENT).field("json", r#"{"command":"add_target","box":[10,20.5,30,40]}"#).build();
        assert_eq!(parse(&json).unwrap().unwrap().command, launch);
        assert_eq!(cmd("segstream-command, action=remove, id=(guint64)7"), Command::RemoveTarget { track_id: 7 });
        assert_eq!(cmd("segstream-command, action=set-detect-interval, interval=0"), Command::SetDetectInterval { interval: 0 });
    }

    #[test]
    fn parses_vocabulary_and_text_commands() {
        let c = cmd("segstream-command, action=set-vocabulary, names=\"disc, red square\"");
        assert_eq!(c, Command::SetVocabulary { names: vec!["disc".into(), "red square".into()] });
        assert_eq!(cmd("segstream-command, action=set-vocabulary, names=(string)\"\""), Command::SetVocabulary { names: vec![] });
        assert_eq!(cmd("segstream-command, action=add-text, text=\"a red disc\""), Command::AddTextTarget { text: "a red disc".into() });
    }

    #[test]
    fn bad_commands_name_the_cause() {
        assert!(parse_str("segstream-command, action=fly").unwrap_err().contains("unknown action 'fly'"));
        assert!(parse_str("segstream-command, action=add-box, x=1, y=1, w=2").unwrap_err().contains("field 'h'"));
        let e = parse_str("segstream-command, action=add-box, x=1, y=1, w=2, h=2, colour=red").unwrap_err();
        assert!(e.contains("unknown field 'colour'"), "{e}");
        let e =
            parse_str("segstream-command, json=\"{\\\"command\\\":\\\"remove_target\\\",\\\"track_id\\\":1,\\\"x\\\":1}\"").unwrap_err();
        assert!(e.contains("unknown field `x`"), "{e}");
        assert!(parse_str("segstream-command, action=remove, id=-1").unwrap_err().contains("non-negative integer field 'id'"));
        assert_eq!(parse_str("something-else, a=1").unwrap(), None);
    }

    #[test]
    fn box_is_scaled_to_model_input() {
        let scale = Scale::new((256, 512), (128, 128));
        match prompt(&Target::Box([64.0, 64.0, 32.0, 128.0]), &scale).unwrap() {
            TargetPrompt::Box { x, y, w, h } => assert_eq!((x, y, w, h), (32.0, 16.0, 16.0, 32.0)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
