//! The dataset annotation builder: one annotation per track ever visible, per-frame nulls
//! exactly where the object is not visible, RLEs that decode to the truth masks.
use segstream::rle;
use segstream::world::ytvis::{self, Dataset, VideoRecorder};
use segstream::world::{Difficulty, FrameTruth, World, WorldConfig};
use std::collections::BTreeSet;

#[test]
fn recorder_matches_the_truth_frame_by_frame() {
    let frames = 30;
    let mut world = World::new(WorldConfig::new(17, Difficulty::Hard, 80, 64)).unwrap();
    let mut rgb = vec![0u8; 80 * 64 * 3];
    let mut rec = VideoRecorder::new(4, frames);
    let truths: Vec<FrameTruth> = (0..frames)
        .map(|f| {
            let t = world.render(f as u64, &mut rgb).unwrap();
            rec.add(f, &t);
            t
        })
        .collect();
    let anns = rec.finish(10);
    let seen: BTreeSet<u64> = truths.iter().flat_map(|t| t.visible().map(|(_, o)| o.track_id)).collect();
    assert_eq!(anns.iter().map(|a| a.track_id).collect::<BTreeSet<_>>(), seen);
    assert_eq!(anns.iter().map(|a| a.id).collect::<Vec<_>>(), (10..10 + anns.len() as u64).collect::<Vec<_>>());
    for a in &anns {
        assert_eq!((a.video_id, a.iscrowd), (4, 0));
        assert_eq!(a.segmentations.len(), frames);
        for (f, t) in truths.iter().enumerate() {
            let k = t.objects.iter().position(|o| o.track_id == a.track_id);
            let visible = k.filter(|&k| t.objects[k].visible_area > 0);
            match (visible, &a.segmentations[f]) {
                (None, None) => {
                    assert!(a.areas[f].is_none() && a.bboxes[f].is_none());
                    assert_eq!(a.visible_fractions[f], 0.0);
                }
                (Some(k), Some(seg)) => {
                    let o = &t.objects[k];
                    assert_eq!(a.category_id, o.class_id as u64 + 1);
                    assert_eq!(rle::decode(seg).unwrap(), t.mask(k));
                    assert_eq!(a.areas[f], Some(o.visible_area as u64));
                    let b = o.bbox.unwrap();
                    assert_eq!(a.bboxes[f], Some([b.x, b.y, b.w, b.h]));
                    assert_eq!(a.visible_fractions[f], o.visible_fraction);
                }
                (v, s) => panic!("track {} frame {f}: visible {v:?} but segmentation {s:?}", a.track_id),
            }
        }
    }
}

#[test]
fn dataset_json_round_trips_with_contract_field_names() {
    let mut world = World::new(WorldConfig::new(3, Difficulty::Normal, 32, 32)).unwrap();
    let mut rgb = vec![0u8; 32 * 32 * 3];
    let mut rec = VideoRecorder::new(1, 3);
    for f in 0..3 {
        rec.add(f, &world.render(f as u64, &mut rgb).unwrap());
    }
    let video = ytvis::Video {
        id: 1,
        width: 32,
        height: 32,
        length: 3,
        file_names: (0..3).map(|f| ytvis::frame_path(0, f)).collect(),
        seed: 3,
        difficulty: "normal".into(),
    };
    let ds = Dataset { videos: vec![video], categories: ytvis::categories(), annotations: rec.finish(1) };
    let text = serde_json::to_string(&ds).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["videos"][0]["file_names"][2], "videos/00000/00002.png");
    assert_eq!(value["categories"][7], serde_json::json!({"id": 8, "name": "crescent"}));
    let ann = &value["annotations"][0];
    for key in ["id", "video_id", "category_id", "iscrowd", "segmentations", "areas", "bboxes", "visible_fractions"] {
        assert!(ann.get(key).is_some(), "annotation lacks {key}");
    }
    assert_eq!(serde_json::from_str::<Dataset>(&text).unwrap(), ds);
}
