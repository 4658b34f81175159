use super::*;
use crate::mask::Mask;
use crate::rle;

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
        r#"{"command":"set_vocabulary","names":[]}"#.to_string(),
        r#"{"command":"set_detect_interval","interval":5}"#.to_string(),
        r#"{"command":"set_detect_interval","interval":0}"#.to_string(),
    ];
    for raw in cases {
        let req = validate(raw.as_bytes(), &ctx()).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(Request::parse(req.to_json().as_bytes()).unwrap(), req, "{raw}");
    }
    let req = validate(br#"{"id":"a","command":"add_target","box":[1,2,3,4]}"#, &ctx()).unwrap();
    assert_eq!(req.id.as_deref(), Some("a"));
    assert_eq!(req.command, Command::AddTarget(AddTarget { frame: None, target: Target::Box([1.0, 2.0, 3.0, 4.0]), label: None }));
    assert_eq!(req.to_json(), r#"{"box":[1.0,2.0,3.0,4.0],"command":"add_target","id":"a"}"#);
}

#[test]
fn malformed_commands_name_the_cause() {
    assert!(err("{not json").starts_with("bad JSON"));
    assert!(err("[1,2]").contains("JSON object"));
    assert!(err(r#"{"command":5}"#).contains("`command` must be a string"));
    assert!(err(r#"{"command":"explode"}"#).contains("unknown command `explode`"));
    assert!(err(r#"{"command":"add_target","box":[300,200,50,50]}"#).contains("outside the 320x240 frame"));
    let e = err(r#"{"command":"add_target","box":"big"}"#);
    assert!(e.starts_with("add_target: invalid type: string \"big\""), "{e}");
    assert!(err(r#"{"command":"add_target","box":[1,1,2,2],"points":[[1,1]]}"#).contains("exactly one of `box`, `points`, `mask` (got 2)"));
    assert!(err(r#"{"command":"add_target"}"#).contains("(got 0)"));
    assert!(err(r#"{"command":"add_target","frame":11,"box":[1,1,2,2]}"#).contains("not been processed"));
    assert!(err(r#"{"command":"add_target","points":[[400,1]]}"#).contains("outside"));
    assert!(err(r#"{"command":"add_target","mask":{"size":[2,2],"counts":"9"}}"#).contains("mask"));
    assert!(err(r#"{"command":"remove_target","track_id":42}"#).contains("unknown track id 42"));
    assert!(err(r#"{"command":"remove_target","track_id":"1"}"#).contains("invalid type: string \"1\", expected u64"));
    assert!(err(r#"{"command":"set_detect_interval","interval":-3}"#).contains("invalid value: integer `-3`"));
    assert!(err(r#"{"command":"set_detect_interval","interval":10001}"#).contains("`interval` must be in 0..=10000, got 10001"));
    assert!(err(r#"{"command":"set_detect_interval","interval":2,"extra":1}"#).contains("unknown field `extra`"));
    assert!(err(r#"{"command":"add_target","box":[1,1,2,2],"colour":"red"}"#).contains("unknown field `colour`"));
    assert!(err(r#"{"command":"set_vocabulary","names":["a","a"]}"#).contains("duplicate"));
    assert!(err(r#"{"command":"set_vocabulary","names":["a"," a "]}"#).contains("duplicate"));
    assert!(err(r#"{"command":"add_text_target","text":""}"#).contains("non-empty"));
    let huge = format!(r#"{{"command":"add_text_target","text":"{}"}}"#, "x".repeat(MAX_COMMAND_BYTES));
    assert!(err(&huge).contains("exceeds the 65536-byte"));
    let none = CommandContext::default();
    let e = validate(br#"{"id":"q","command":"add_target","box":[1,1,2,2]}"#, &none).unwrap_err();
    assert!(e.message.contains("frame size is unknown"));
    assert_eq!((e.id.as_deref(), e.command.as_deref()), (Some("q"), Some("add_target")));
}

/// A mask object is held to the same rule as every other object: unknown fields are
/// refused, not ignored.
#[test]
fn mask_with_an_extra_field_is_rejected() {
    let e = err(r#"{"command":"add_target","mask":{"size":[1,1],"counts":"01","colour":"red"}}"#);
    assert!(e.contains("unknown field `colour`"), "{e}");
}

/// Counts that add up to more than 2^64 pixels wrapped around in release builds and
/// panicked the MQTT thread; now the command is refused naming the RLE.
#[test]
fn overflowing_mask_counts_are_refused() {
    let e = err(r#"{"command":"add_target","mask":{"size":[1,1],"counts":"oooooooooooo7oooooooooooo73"}}"#);
    assert!(e.starts_with("add_target: mask: invalid RLE counts"), "{e}");
    let e = err(&format!(r#"{{"command":"add_target","mask":{{"size":[1,1],"counts":"{}"}}}}"#, rle::pack(&[0, 1, u32::MAX as u64])));
    assert!(e.contains("add up to more than the 1 pixels"), "{e}");
}

/// An 8192x8192 mask is checked from its counts alone (no bitmap is built here: the
/// `segment` element decodes it once, at the model input size).
#[test]
fn large_masks_are_checked_without_decoding() {
    let side = 8192u64;
    let counts = rle::pack(&[side * 100, side * 200, side * side - side * 300]);
    let ok = format!(r#"{{"command":"add_target","mask":{{"size":[8192,8192],"counts":"{counts}"}}}}"#);
    assert!(ok.len() < 100);
    let req = validate(ok.as_bytes(), &ctx()).unwrap();
    let Command::AddTarget(AddTarget { target: Target::Mask(m), .. }) = &req.command else { panic!("{req:?}") };
    assert_eq!(rle::validate(m), Ok(side * 200));
    let short = rle::pack(&[side * 100, side * 200]);
    let e = err(&format!(r#"{{"command":"add_target","mask":{{"size":[8192,8192],"counts":"{short}"}}}}"#));
    assert!(e.contains("add up to 2457600 pixels, the size says 67108864"), "{e}");
}

#[test]
fn outcomes_become_replies() {
    let applied = Outcome { id: Some("1".into()), command: Some("add_target".into()), error: None, frame: Some(4), track_id: Some(9) };
    let r = Reply::new("cam1", &applied);
    assert_eq!((r.ok, r.status.as_str(), r.frame, r.track_id), (true, "applied", Some(4), Some(9)));
    let refused = Outcome { error: Some("segment: full".into()), ..applied };
    let r = Reply::new("cam1", &refused);
    assert_eq!((r.ok, r.status.as_str(), r.error.as_deref()), (false, "rejected", Some("segment: full")));
}

/// A number beyond f32's range would become infinity, which has no JSON form: the parser
/// refuses it, so every parsed request can travel as the event's JSON (found by fuzzing).
#[test]
fn coordinates_beyond_f32_are_refused_by_the_parser() {
    let huge = "3".repeat(60);
    for raw in [
        format!(r#"{{"command":"add_target","frame":15,"box":[40,{huge},80,60]}}"#),
        format!(r#"{{"command":"add_target","points":[[1,-{huge}]]}}"#),
    ] {
        let e = Request::parse(raw.as_bytes()).unwrap_err().message;
        assert!(e.contains("coordinates must be finite"), "{raw}: {e}");
    }
}
