//! The world's content over time: objects enter and leave, every class appears, the hard
//! setting occludes more, and the object count follows the config.
use segstream::world::{self, Difficulty, FrameTruth, World, WorldConfig};
use std::collections::HashSet;

fn run(seed: u64, difficulty: Difficulty, n: u64, f: impl FnMut(&FrameTruth)) {
    run_cfg(WorldConfig::new(seed, difficulty, 128, 128), n, f)
}

fn run_cfg(cfg: WorldConfig, n: u64, mut f: impl FnMut(&FrameTruth)) {
    let mut rgb = vec![0u8; cfg.width * cfg.height * 3];
    let mut w = World::new(cfg).unwrap();
    let mut t = FrameTruth::default();
    for frame in 0..n {
        w.render_into(frame, &mut rgb, &mut t).unwrap();
        f(&t);
    }
}

#[test]
fn objects_enter_and_leave_the_frame() {
    let (mut entered, mut left, mut cut_by_edge) = (0, 0, 0);
    for seed in 0..6 {
        let mut prev: HashSet<u64> = HashSet::new();
        let mut first = true;
        run(seed, Difficulty::Normal, 200, |t| {
            let now: HashSet<u64> = t.visible().map(|(_, o)| o.track_id).collect();
            if !first {
                entered += now.difference(&prev).count();
                left += prev.difference(&now).count();
            }
            first = false;
            cut_by_edge += t
                .visible()
                .filter(|(_, o)| {
                    let b = o.bbox.unwrap();
                    (b.x == 0.0 || b.y == 0.0 || b.x + b.w == 128.0 || b.y + b.h == 128.0) && o.visible_fraction < 1.0
                })
                .count();
            prev = now;
        });
    }
    assert!(entered >= 10 && left >= 10, "entered {entered}, left {left}");
    assert!(cut_by_edge > 100, "objects cut by the frame edge: {cut_by_edge}");
}

#[test]
fn new_objects_get_new_track_ids() {
    let mut ids = Vec::new();
    run(3, Difficulty::Normal, 400, |t| ids.extend(t.objects.iter().map(|o| o.track_id)));
    let max = *ids.iter().max().unwrap();
    let first: HashSet<u64> = {
        let mut s = HashSet::new();
        run(3, Difficulty::Normal, 1, |t| s.extend(t.objects.iter().map(|o| o.track_id)));
        s
    };
    assert!(max as usize > first.len(), "no replacement objects in 400 frames");
    assert_eq!(first, (1..=first.len() as u64).collect(), "initial ids are 1..=n");
}

#[test]
fn all_eight_classes_appear() {
    let mut seen = HashSet::new();
    for seed in 0..10 {
        run(seed, Difficulty::Normal, 10, |t| seen.extend(t.visible().map(|(_, o)| (o.class_id, o.label))));
    }
    let classes: HashSet<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(classes.len(), 8, "seen {seen:?}");
    for (id, label) in seen {
        assert_eq!(world::CLASS_NAMES[id], label);
    }
}

fn mean_visible_fraction(difficulty: Difficulty) -> f64 {
    let (mut sum, mut n) = (0.0, 0);
    for seed in world::EVAL_SEEDS.start..world::EVAL_SEEDS.start + 10 {
        run(seed, difficulty, 40, |t| {
            for (_, o) in t.visible() {
                sum += o.visible_fraction as f64;
                n += 1;
            }
        });
    }
    sum / n as f64
}

#[test]
fn hard_setting_occludes_more_than_normal() {
    let (normal, hard) = (mean_visible_fraction(Difficulty::Normal), mean_visible_fraction(Difficulty::Hard));
    assert!(hard < normal - 0.03, "mean visible fraction: normal {normal:.3}, hard {hard:.3}");
}

#[test]
fn hard_setting_has_look_alike_twins() {
    let mut twins = 0;
    for seed in 0..10 {
        run(seed, Difficulty::Hard, 1, |t| {
            let looks: Vec<_> = t.objects.iter().map(|o| (o.class_id, o.colour)).collect();
            twins += looks.iter().enumerate().filter(|(i, l)| looks[..*i].contains(l)).count();
        });
    }
    assert!(twins >= 5, "only {twins} look-alike objects in 10 hard worlds");
}

#[test]
fn fixed_object_count_is_respected() {
    for n in [1u32, 5, 12] {
        let mut cfg = WorldConfig::new(9, Difficulty::Normal, 64, 64);
        cfg.num_objects = n..=n;
        let mut max_alive = 0;
        run_cfg(cfg, 100, |t| max_alive = max_alive.max(t.objects.len()));
        assert_eq!(max_alive, n as usize);
    }
}

#[test]
fn seed_split_is_disjoint() {
    const { assert!(world::TRAIN_SEEDS.end <= world::EVAL_SEEDS.start) };
    assert!(world::is_eval_seed(1_000_000) && !world::is_eval_seed(99_999));
}
