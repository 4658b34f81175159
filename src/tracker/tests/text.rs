//! Text targets (`tracker::text`) with the scripted fake decoder: the fake's class
//! embeddings are one-hot (class = key % 4), so a "text embedding" is `axis(class)`.
use super::fake::{axis, features, obj, vocab, FakeDecoder, Obj};
use super::*;

/// Object 1 (class 1) on the left, object 2 (class 2) on the right, both still.
fn two_objects(frames: usize) -> Vec<Vec<Obj>> {
    (0..frames).map(|_| vec![obj(1, (2, 2, 10, 10), axis(0)), obj(2, (20, 4, 28, 12), axis(1))]).collect()
}

/// Runs frames `from..to` of the decoder's script; per frame (id, bbox x0) of each track.
fn frames(tr: &mut Tracker, dec: &mut FakeDecoder, from: usize, to: usize) -> Vec<Vec<(u64, usize)>> {
    let v = vocab();
    (from..to)
        .map(|t| {
            let f = features(t, &dec.script[t].clone());
            let tracks = tr.step(&f, dec, &v).expect("step");
            tracks.iter().map(|k| (k.id, k.mask.bbox().map_or(99, |b| b.x as usize))).collect()
        })
        .collect()
}

#[test]
fn text_target_adopts_the_tracked_object_of_its_class_on_the_next_detection_frame() {
    let mut tr = Tracker::new(TrackerConfig { detect_interval: 3, ..Default::default() });
    let mut dec = FakeDecoder::new(two_objects(9));
    let before = frames(&mut tr, &mut dec, 0, 2);
    assert_eq!(before[1], vec![(1, 2), (2, 20)]);
    let id = tr.add_text_target(axis(2).to_vec(), 0.5).unwrap();
    assert_eq!(id, 3);
    assert_eq!(tr.pending_text_targets(), [3]);
    let after = frames(&mut tr, &mut dec, 2, 9);
    assert_eq!(after[0], vec![(1, 2), (2, 20)], "frame 2 does not detect: still waiting");
    // Frame 3 detects: the object of class 2 (x0 = 20) continues under the text target's id.
    for f in &after[1..] {
        assert_eq!(*f, vec![(1, 2), (3, 20)]);
    }
    assert!(tr.pending_text_targets().is_empty());
    assert!(tr.targets().contains(&(3, TrackState::Confirmed)));
}

#[test]
fn text_target_without_a_close_class_waits_and_can_be_removed() {
    let mut tr = Tracker::new(TrackerConfig { detect_interval: 1, ..Default::default() });
    let mut dec = FakeDecoder::new(two_objects(4));
    // Class 3 is on no object: cosine 0 with both detections.
    let id = tr.add_text_target(axis(3).to_vec(), 0.5).unwrap();
    let out = frames(&mut tr, &mut dec, 0, 4);
    assert!(out.iter().all(|f| f.iter().all(|&(i, _)| i != id)));
    assert_eq!(tr.pending_text_targets(), [id]);
    assert!(tr.remove_target(id), "a waiting text target can be removed");
    assert!(tr.pending_text_targets().is_empty());
    assert!(!tr.remove_target(id));
    assert!(tr.add_text_target(vec![], 0.5).unwrap_err().contains("empty"));
}

#[test]
fn text_target_starts_a_new_target_from_an_unborn_detection() {
    // score_threshold 1.0: detections never give births, so only the text target exists.
    let mut tr = Tracker::new(TrackerConfig { score_threshold: 1.0, detect_interval: 4, ..Default::default() });
    let mut dec = FakeDecoder::new(two_objects(6));
    let id = tr.add_text_target(axis(1).to_vec(), 0.5).unwrap();
    let out = frames(&mut tr, &mut dec, 0, 6);
    for f in &out {
        assert_eq!(*f, vec![(id, 2)], "the class-1 object, from its first detection frame on");
    }
    // Tracked by its prompt query in between (frames 1-3 do not detect).
    let detect: Vec<bool> = dec.calls.iter().map(|c| c.2).collect();
    assert_eq!(detect, [true, false, false, false, true, false]);
    assert_eq!(dec.calls[1].0, 1, "one prompt row: the text target");
}

#[test]
fn two_text_targets_of_one_class_take_different_objects_and_waiting_ones_are_bounded() {
    let script: Vec<Vec<Obj>> = (0..3).map(|_| vec![obj(1, (2, 2, 10, 10), axis(0)), obj(5, (20, 4, 28, 12), axis(1))]).collect();
    let mut tr = Tracker::new(TrackerConfig { score_threshold: 1.0, ..Default::default() });
    let mut dec = FakeDecoder::new(script);
    let a = tr.add_text_target(axis(1).to_vec(), 0.5).unwrap();
    let b = tr.add_text_target(axis(1).to_vec(), 0.5).unwrap();
    let out = frames(&mut tr, &mut dec, 0, 3);
    let mut x0: Vec<usize> = out[2].iter().map(|s| s.1).collect();
    x0.sort();
    assert_eq!(out[2].iter().map(|s| s.0).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(x0, vec![2, 20], "one object each");
    for _ in 0..crate::tracker::text::MAX_PENDING_TEXT {
        tr.add_text_target(axis(3).to_vec(), 0.5).unwrap();
    }
    assert!(tr.add_text_target(axis(3).to_vec(), 0.5).unwrap_err().contains("already waiting"));
}
