//! The world's ground truth: determinism, and masks/areas/boxes that match what was drawn.
#[path = "support/world_frames.rs"]
mod world_frames;
use segstream::world::{Difficulty, World, WorldConfig, WorldError};
use world_frames::frames;

fn world(seed: u64, difficulty: Difficulty) -> World {
    World::new(WorldConfig::new(seed, difficulty, 128, 96)).expect("valid config")
}

#[test]
fn same_seed_same_video_different_seed_different_video() {
    let a = frames(&mut world(5, Difficulty::Normal), 40);
    let b = frames(&mut world(5, Difficulty::Normal), 40);
    assert!(a == b, "two worlds with seed 5 disagree");
    let c = frames(&mut world(6, Difficulty::Normal), 40);
    assert!(a.iter().zip(&c).all(|(x, y)| x.0 != y.0), "seeds 5 and 6 render an identical frame");
}

#[test]
fn frames_can_be_rendered_out_of_order() {
    let seq = frames(&mut world(11, Difficulty::Hard), 30);
    let mut w = world(11, Difficulty::Hard);
    for f in [29u64, 3, 17, 17, 0, 25] {
        let mut rgb = vec![0u8; 128 * 96 * 3];
        let t = w.render(f, &mut rgb).unwrap();
        assert!(rgb == seq[f as usize].0 && t == seq[f as usize].1, "frame {f} differs when rendered out of order");
    }
}

#[test]
fn masks_are_disjoint_and_match_areas_boxes_and_fractions() {
    for seed in 0..6 {
        for difficulty in [Difficulty::Normal, Difficulty::Hard] {
            for (_, t) in frames(&mut world(seed, difficulty), 25) {
                let mut covered = vec![0u8; t.width * t.height];
                for (k, o) in t.objects.iter().enumerate() {
                    let m = t.mask(k);
                    assert_eq!(t.rle(k), segstream::rle::encode(&m), "fast RLE differs from rle::encode");
                    assert_eq!(m.area(), o.visible_area);
                    assert_eq!(m.bbox(), o.bbox);
                    assert!((0.0..=1.0).contains(&o.visible_fraction), "fraction {}", o.visible_fraction);
                    assert!(o.visible_area <= o.full_area && o.full_area > 0);
                    let want = o.visible_area as f32 / o.full_area as f32;
                    assert!((o.visible_fraction - want).abs() < 1e-6);
                    for (c, &v) in covered.iter_mut().zip(&m.data) {
                        assert!(!(v == 1 && *c == 1), "two masks share a pixel (seed {seed}, frame {})", t.frame);
                        *c |= v;
                    }
                }
                let labelled = t.labels.iter().filter(|&&l| l != 0).count();
                assert_eq!(labelled, covered.iter().filter(|&&c| c != 0).count());
            }
        }
    }
}

/// The nearest object whose shape lies well inside the frame hides nothing of itself.
#[test]
fn frontmost_object_inside_the_frame_is_fully_visible() {
    let mut checked = 0;
    for seed in 0..10 {
        for (_, t) in frames(&mut world(seed, Difficulty::Hard), 20) {
            let front = t.objects.iter().max_by_key(|o| o.depth).unwrap();
            if let Some(b) = front.bbox {
                let inside = b.x > 0.0 && b.y > 0.0 && b.x + b.w < t.width as f32 && b.y + b.h < t.height as f32;
                if inside && front.visible_area == front.full_area {
                    checked += 1;
                }
                if inside {
                    assert_eq!(front.visible_fraction, 1.0, "front object {} of frame {}", front.track_id, t.frame);
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} frames had a front object inside the frame");
}

/// An object behind another one loses exactly the pixels the nearer one covers.
#[test]
fn occluded_objects_report_partial_visibility() {
    let mut partial = 0;
    for seed in 0..5 {
        for (_, t) in frames(&mut world(seed, Difficulty::Hard), 40) {
            partial += t.objects.iter().filter(|o| o.visible_fraction > 0.0 && o.visible_fraction < 0.95).count();
        }
    }
    assert!(partial > 100, "hard worlds should show many partially hidden objects, saw {partial}");
}

/// Object pixels carry the object's colour: the interior's dominant channel is the base
/// colour's dominant channel (textures only darken, illumination scales all channels).
#[test]
fn rendered_pixels_carry_the_object_colour() {
    let mut checked = 0;
    for seed in 0..4 {
        for (rgb, t) in frames(&mut world(seed, Difficulty::Normal), 10) {
            for (k, o) in t.visible() {
                if o.visible_area < 60 {
                    continue;
                }
                let mut sum = [0f64; 3];
                for (i, &l) in t.labels.iter().enumerate() {
                    if l as usize == k + 1 {
                        (0..3).for_each(|c| sum[c] += rgb[i * 3 + c] as f64);
                    }
                }
                let argmax = |v: [f64; 3]| (0..3).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
                let base = o.colour.map(|v| v as f64);
                assert_eq!(argmax(sum), argmax(base), "object {} colour {:?} mean {:?}", o.track_id, o.colour, sum);
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} objects checked");
}

#[test]
fn bad_configs_and_buffers_are_errors() {
    let bad = |w, h, n: std::ops::RangeInclusive<u32>| {
        let mut c = WorldConfig::new(1, Difficulty::Normal, w, h);
        c.num_objects = n;
        World::new(c).err()
    };
    assert_eq!(bad(0, 10, 1..=3), Some(WorldError::Size(0, 10)));
    assert_eq!(bad(64, 64, 0..=3), Some(WorldError::NumObjects(0, 3)));
    assert_eq!(bad(64, 64, 3..=13), Some(WorldError::NumObjects(3, 13)));
    let mut w = world(1, Difficulty::Normal);
    let err = w.render(0, &mut [0u8; 10]).unwrap_err();
    assert!(err.to_string().contains("needs 36864"), "{err}");
    assert!("weird".parse::<Difficulty>().is_err());
}
