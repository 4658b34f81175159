//! Frames dropped before the tracker (`Tracker::skip`): cadence and ageing in stream frames.
use super::fake::{axis, features, obj, vocab, FakeDecoder, Obj};
use super::*;

/// Steps the frames of the script listed in `processed` (increasing) and skips the ones in
/// between; returns the ids output on each processed frame.
fn run_with_gaps(tr: &mut Tracker, dec: &mut FakeDecoder, processed: &[usize]) -> Vec<Vec<u64>> {
    run_with_gaps_from(tr, dec, 0, processed)
}

#[test]
fn detection_keeps_its_cadence_in_stream_frames_across_skips() {
    let mut tr = Tracker::new(TrackerConfig { detect_interval: 3, ..Default::default() });
    let mut dec = FakeDecoder::new(two_movers(12));
    let out = run_with_gaps(&mut tr, &mut dec, &[0, 1, 5, 6, 7, 8, 10, 11]);
    let detect: Vec<bool> = dec.calls.iter().map(|c| c.2).collect();
    // Stream frames 3 and 9 were dropped: detection moves to 5 and 10; 6 is on the cadence.
    // (Counting processed frames instead would detect on the 4th and 7th processed, 6 and 10.)
    assert_eq!(detect, vec![true, false, true, true, false, false, true, false]);
    assert!(out.iter().all(|ids| ids == &[1, 2]), "both objects keep their ids across the gaps: {out:?}");
}

#[test]
fn without_skips_the_cadence_is_unchanged() {
    let mut tr = Tracker::new(TrackerConfig { detect_interval: 4, ..Default::default() });
    let mut dec = FakeDecoder::new(two_movers(10));
    run_with_gaps(&mut tr, &mut dec, &(0..10).collect::<Vec<_>>());
    let detect: Vec<usize> = dec.calls.iter().enumerate().filter(|(_, c)| c.2).map(|(i, _)| i).collect();
    assert_eq!(detect, vec![0, 4, 8]);
}

/// Object 1 visible on frames 0-2, absent from 3 to 11, back (elsewhere) from 12.
fn leaves_and_returns() -> Vec<Vec<Obj>> {
    (0..16)
        .map(|t| match t {
            0..=2 => vec![obj(1, (2, 2, 10, 10), axis(0))],
            3..=11 => vec![],
            _ => vec![obj(1, (6, 6, 14, 14), axis(0))],
        })
        .collect()
}

#[test]
fn a_lost_target_ages_by_skipped_frames_and_is_forgotten_after_max_age_stream_frames() {
    let cfg = TrackerConfig { max_age: 6, ..Default::default() };
    // Missing from stream frame 3: forgotten after 6 stream frames (3..=8), whatever was dropped.
    let mut tr = Tracker::new(cfg.clone());
    let mut dec = FakeDecoder::new(leaves_and_returns());
    run_with_gaps(&mut tr, &mut dec, &[0, 1, 2, 3]);
    assert_eq!(tr.targets(), vec![(1, TrackState::Lost)]);
    run_with_gaps_from(&mut tr, &mut dec, 4, &[7]);
    assert_eq!(tr.targets(), vec![(1, TrackState::Lost)], "5 stream frames unseen (3-7) < max_age");
    tr.skip(1);
    assert!(tr.targets().is_empty(), "6 stream frames unseen (3-8): forgotten");
    let out = run_with_gaps_from(&mut tr, &mut dec, 9, &[12]);
    assert_eq!(out, vec![vec![2]], "a new identity once forgotten");
}

#[test]
fn a_target_seen_on_the_last_processed_frame_does_not_age_while_frames_are_dropped() {
    let cfg = TrackerConfig { max_age: 6, detect_interval: 100, ..Default::default() };
    let mut tr = Tracker::new(cfg);
    let mut dec = FakeDecoder::new((0..40).map(|_| vec![obj(1, (4, 4, 12, 12), axis(0))]).collect());
    let out = run_with_gaps(&mut tr, &mut dec, &[0, 1, 30, 31]);
    assert_eq!(out, vec![vec![1], vec![1], vec![1], vec![1]], "28 dropped frames are no evidence the target left");
    assert_eq!(tr.targets(), vec![(1, TrackState::Confirmed)]);
}

#[test]
fn reset_restarts_the_frame_clock_and_the_cadence() {
    let mut tr = Tracker::new(TrackerConfig { detect_interval: 3, ..Default::default() });
    tr.skip(7);
    assert_eq!(tr.frame_clock(), 7);
    tr.reset();
    assert_eq!(tr.frame_clock(), 0);
    let mut dec = FakeDecoder::new(two_movers(4));
    run_with_gaps(&mut tr, &mut dec, &[0, 1, 2, 3]);
    let detect: Vec<bool> = dec.calls.iter().map(|c| c.2).collect();
    assert_eq!(detect, vec![true, false, false, true]);
}

/// `run_with_gaps` continuing at stream frame `from` (the tracker's clock).
fn run_with_gaps_from(tr: &mut Tracker, dec: &mut FakeDecoder, from: usize, processed: &[usize]) -> Vec<Vec<u64>> {
    assert_eq!(tr.frame_clock(), from as u64);
    let v = vocab();
    let mut next = from;
    let mut out = Vec::new();
    for &t in processed {
        tr.skip((t - next) as u64);
        assert_eq!(tr.frame_clock(), t as u64);
        let f = features(t, &dec.script[t].clone());
        out.push(tr.step(&f, dec, &v).expect("step").iter().map(|k| k.id).collect());
        next = t + 1;
    }
    out
}
