//! Small objects next to large ones and look-alike objects: the tracker's own rules
//! (`overlap_quality`, `match_min_iou`, `split_min_cells`), each against the
//! reference behaviour it replaces.
use super::fake::{axis, obj, FakeDecoder, Obj};
use super::*;

/// Mask area per frame of each output, by track id (the module's `run`, narrowed).
fn areas(cfg: TrackerConfig, script: &[Vec<Obj>]) -> Vec<Vec<(u64, usize)>> {
    let frames = run(&mut Tracker::new(cfg), &mut FakeDecoder::new(script.to_vec()));
    frames.iter().map(|f| f.iter().map(|&(id, _, area, _)| (id, area)).collect()).collect()
}

#[test]
fn a_small_detected_object_keeps_its_pixels_against_a_large_mask_spread_over_it() {
    // Object 2 (6x6, sharp inside, blurry edge: q = 36/64) sits in front of object 1
    // (12x12), whose mask covers it too. Weighed by class prob x similarity, object 2's
    // surer mask wins its cells; with the reference's quality factor too object 1 takes
    // them, and object 2, left with nothing, is never output.
    let script: Vec<Vec<Obj>> = (0..4)
        .map(|_| {
            let mut small = obj(2, (8, 8, 14, 14), axis(1));
            (small.peak, small.halo) = (8.0, 1);
            vec![obj(1, (4, 4, 16, 16), axis(0)), small]
        })
        .collect();
    let ours = areas(TrackerConfig { overlap_quality: false, ..Default::default() }, &script);
    assert!(ours.iter().all(|f| f == &vec![(1, 108), (2, 36)]), "{ours:?}");
    let reference = areas(TrackerConfig { overlap_quality: true, ..Default::default() }, &script);
    assert!(reference.iter().all(|f| f == &vec![(1, 144)]), "{reference:?}");
}

#[test]
fn a_look_alike_elsewhere_is_not_explained_by_a_target_its_prompt_already_segments() {
    // Object 1 is detected on frame 0 only, then followed by its prompt query. From frame 1
    // object 3, a look-alike (same embedding and class) far away, is detected. By embedding
    // alone that detection matches target 1 and never starts a target of its own.
    let script: Vec<Vec<Obj>> = (0..5)
        .map(|t| {
            let mut first = obj(1, (2, 2, 8, 8), axis(0));
            first.detect = t == 0;
            let mut twin = obj(3, (20, 20, 26, 26), axis(0));
            twin.class = first.class;
            if t == 0 {
                vec![first]
            } else {
                vec![first, twin]
            }
        })
        .collect();
    let ours = areas(TrackerConfig { match_min_iou: 0.3, ..Default::default() }, &script);
    assert_eq!(ours[4], vec![(1, 36), (2, 36)]);
    let reference = areas(TrackerConfig { match_min_iou: 0.0, ..Default::default() }, &script);
    assert!(reference.iter().all(|f| f == &vec![(1, 36)]), "{reference:?}");
}

#[test]
fn one_detection_over_two_look_alikes_starts_a_target_for_each() {
    // The detector and object 1's prompt query segment object 1 (6x6) and, less surely,
    // its twin (object 2, 4x4, never detected) together. Split at birth, each object has a
    // target, and the twin's own prompt query wins its cells; as one target the twin is
    // never found.
    let script: Vec<Vec<Obj>> = (0..5)
        .map(|_| {
            let mut first = obj(1, (2, 2, 8, 8), axis(0));
            first.twin = Some((20, 20, 24, 24));
            let mut second = obj(2, (20, 20, 24, 24), axis(0));
            second.detect = false;
            vec![first, second]
        })
        .collect();
    let ours = areas(TrackerConfig { split_min_cells: 8, ..Default::default() }, &script);
    assert!(ours.iter().all(|f| f == &vec![(1, 36), (2, 16)]), "{ours:?}");
    let reference = areas(TrackerConfig { split_min_cells: 0, ..Default::default() }, &script);
    assert!(reference.iter().all(|f| f == &vec![(1, 52)]), "{reference:?}");
}
