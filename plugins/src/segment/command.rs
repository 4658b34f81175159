//! The `segstream-command` custom event: parsing and applying it to the tracker.
//!
//! Events arrive on any thread (upstream events come from downstream's thread) while a
//! frame may be in inference, so they are parsed at once (bad input is reported then) and
//! queued; the streaming thread applies the queue before the next frame.
use segstream::command::{Command, Request, Target};
use segstream::mask::Mask;
use segstream::rle;
use segstream::tracker::TargetPrompt;

/// Name of the custom event structure.
pub const COMMAND_EVENT: &str = "segstream-command";
/// Actions of the gst-launch form of the event (`action=...`).
const ACTIONS: &str = "add-box, remove, set-vocabulary, add-text";
/// Commands waiting for the next frame; more are refused (bounded state).
pub const MAX_PENDING: usize = 64;

/// A parsed command. Geometry is in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum SegCommand {
    AddBox {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    AddPoints(Vec<(f32, f32)>),
    AddMask(Mask),
    Remove(u64),
    SetDetectInterval(u32),
    /// Replace the class vocabulary (new names are embedded with the text encoder).
    SetVocabulary(Vec<String>),
    /// A text target (see `segstream::tracker::text`: matched against detections).
    AddText(String),
}

/// Parses the event structure; `Ok(None)` when it is not a segstream command.
pub fn parse(s: &gst::StructureRef) -> Result<Option<SegCommand>, String> {
    if s.name() != COMMAND_EVENT {
        return Ok(None);
    }
    if let Ok(json) = s.get::<&str>("json") {
        return from_request(&Request::from_json(json)?).map(Some);
    }
    let action = s.get::<&str>("action").map_err(|_| format!("{COMMAND_EVENT}: needs a string field 'action' ({ACTIONS}) or 'json'"))?;
    match action {
        "add-box" => {
            let f = |k: &str| number(s, k);
            let (x, y, w, h) = (f("x")?, f("y")?, f("w")?, f("h")?);
            if !(w > 0.0 && h > 0.0) {
                return Err(format!("{COMMAND_EVENT}: add-box needs w > 0 and h > 0, got {w}x{h}"));
            }
            Ok(Some(SegCommand::AddBox { x, y, w, h }))
        }
        "remove" => {
            let id = s
                .get::<u64>("id")
                .or_else(|_| s.get::<u32>("id").map(u64::from))
                .or_else(|_| s.get::<i32>("id").map_err(|e| e.to_string()).and_then(|v| u64::try_from(v).map_err(|e| e.to_string())))
                .map_err(|e| format!("{COMMAND_EVENT}: remove needs a non-negative integer 'id': {e}"))?;
            Ok(Some(SegCommand::Remove(id)))
        }
        "set-vocabulary" => {
            let names = s
                .get::<&str>("names")
                .map_err(|_| format!("{COMMAND_EVENT}: set-vocabulary needs a string field 'names' (comma-separated)"))?;
            Ok(Some(SegCommand::SetVocabulary(names.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect())))
        }
        "add-text" => match s.get::<&str>("text") {
            Ok(t) if !t.trim().is_empty() => Ok(Some(SegCommand::AddText(t.trim().to_string()))),
            _ => Err(format!("{COMMAND_EVENT}: add-text needs a non-empty string field 'text'")),
        },
        other => Err(format!("{COMMAND_EVENT}: unknown action '{other}' (known: {ACTIONS})")),
    }
}

/// Reads a number given as float, double or int (gst-launch syntax makes any of them).
fn number(s: &gst::StructureRef, key: &str) -> Result<f32, String> {
    if let Ok(v) = s.get::<f32>(key) {
        return Ok(v);
    }
    if let Ok(v) = s.get::<f64>(key) {
        return Ok(v as f32);
    }
    if let Ok(v) = s.get::<i32>(key) {
        return Ok(v as f32);
    }
    Err(format!("{COMMAND_EVENT}: field '{key}' must be a number"))
}

fn from_request(r: &Request) -> Result<SegCommand, String> {
    Ok(match &r.command {
        Command::AddTarget { target: Target::Box([x, y, w, h]), .. } => SegCommand::AddBox { x: *x, y: *y, w: *w, h: *h },
        Command::AddTarget { target: Target::Points(p), .. } => SegCommand::AddPoints(p.iter().map(|[x, y]| (*x, *y)).collect()),
        Command::AddTarget { target: Target::Mask(m), .. } => {
            SegCommand::AddMask(rle::decode(m).map_err(|e| format!("{COMMAND_EVENT}: mask: {e}"))?)
        }
        Command::RemoveTarget { track_id } => SegCommand::Remove(*track_id),
        Command::SetDetectInterval { interval } => SegCommand::SetDetectInterval(*interval),
        Command::SetVocabulary { names } => SegCommand::SetVocabulary(names.clone()),
        Command::AddTextTarget { text } => SegCommand::AddText(text.clone()),
    })
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

/// The tracker prompt for an add command; `None` for other commands.
pub fn prompt(cmd: &SegCommand, scale: &Scale) -> Option<TargetPrompt> {
    Some(match cmd {
        SegCommand::AddBox { x, y, w, h } => TargetPrompt::Box { x: x * scale.sx, y: y * scale.sy, w: w * scale.sx, h: h * scale.sy },
        SegCommand::AddPoints(p) => TargetPrompt::Points(p.iter().map(|(x, y)| (x * scale.sx, y * scale.sy)).collect()),
        SegCommand::AddMask(m) => TargetPrompt::Mask(m.resize_nearest(scale.input.0, scale.input.1)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<SegCommand>, String> {
        gst::init().unwrap();
        parse(&s.parse::<gst::Structure>().unwrap())
    }

    #[test]
    fn parses_add_box_from_launch_syntax() {
        let c = parse_str("segstream-command, action=add-box, x=10, y=20.5, w=(float)30, h=40").unwrap();
        assert_eq!(c, Some(SegCommand::AddBox { x: 10.0, y: 20.5, w: 30.0, h: 40.0 }));
    }

    #[test]
    fn parses_remove_and_json() {
        assert_eq!(parse_str("segstream-command, action=remove, id=(guint64)7").unwrap(), Some(SegCommand::Remove(7)));
        let json = r#"{"command":"remove_target","track_id":5}"#;
        let s = gst::Structure::builder(COMMAND_EVENT).field("json", json).build();
        assert_eq!(parse(&s).unwrap(), Some(SegCommand::Remove(5)));
    }

    #[test]
    fn parses_vocabulary_and_text_commands() {
        let c = parse_str("segstream-command, action=set-vocabulary, names=\"disc, red square\"").unwrap();
        assert_eq!(c, Some(SegCommand::SetVocabulary(vec!["disc".into(), "red square".into()])));
        let c = parse_str("segstream-command, action=add-text, text=\"a red disc\"").unwrap();
        assert_eq!(c, Some(SegCommand::AddText("a red disc".into())));
        let json = r#"{"command":"set_vocabulary","names":["disc","ring"]}"#;
        let s = gst::Structure::builder(COMMAND_EVENT).field("json", json).build();
        assert_eq!(parse(&s).unwrap(), Some(SegCommand::SetVocabulary(vec!["disc".into(), "ring".into()])));
        let json = r#"{"command":"add_text_target","text":"red disc"}"#;
        let s = gst::Structure::builder(COMMAND_EVENT).field("json", json).build();
        assert_eq!(parse(&s).unwrap(), Some(SegCommand::AddText("red disc".into())));
    }

    #[test]
    fn bad_commands_name_the_cause() {
        assert!(parse_str("segstream-command, action=fly").unwrap_err().contains("unknown action 'fly'"));
        assert!(parse_str("segstream-command, action=add-text, text=\" \"").unwrap_err().contains("non-empty string field 'text'"));
        assert!(parse_str("segstream-command, action=add-box, x=1, y=1, w=0, h=3").unwrap_err().contains("w > 0"));
        assert!(parse_str("segstream-command, action=add-box, x=1, y=1, w=2").unwrap_err().contains("'h'"));
        assert_eq!(parse_str("something-else, a=1").unwrap(), None);
    }

    #[test]
    fn box_is_scaled_to_model_input() {
        let scale = Scale::new((256, 512), (128, 128));
        let p = prompt(&SegCommand::AddBox { x: 64.0, y: 64.0, w: 32.0, h: 128.0 }, &scale).unwrap();
        match p {
            TargetPrompt::Box { x, y, w, h } => assert_eq!((x, y, w, h), (32.0, 16.0, 16.0, 32.0)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
