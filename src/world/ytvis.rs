//! The synthetic dataset's annotation file: YouTube-VIS layout with COCO RLE masks
//! (see the engine contract). Built frame by frame from [`FrameTruth`]s.
use super::truth::FrameTruth;
use super::CLASS_NAMES;
use crate::rle::Rle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub videos: Vec<Video>,
    pub categories: Vec<Category>,
    pub annotations: Vec<Annotation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    /// 1-based.
    pub id: u64,
    pub width: usize,
    pub height: usize,
    pub length: usize,
    /// Relative to the dataset directory, e.g. `videos/00000/00000.png`.
    pub file_names: Vec<String>,
    pub seed: u64,
    #[serde(default)]
    pub difficulty: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// 1-based: class id + 1.
    pub id: u64,
    pub name: String,
}

/// One object track over one video; per-frame lists have the video's length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub id: u64,
    pub video_id: u64,
    pub category_id: u64,
    pub iscrowd: u8,
    /// The world's track id (unique within the video).
    pub track_id: u64,
    pub segmentations: Vec<Option<Rle>>,
    pub areas: Vec<Option<u64>>,
    /// `[x, y, w, h]` of the visible pixels.
    pub bboxes: Vec<Option<[f32; 4]>>,
    /// 0 on frames where the object is hidden, outside the frame or not yet/no longer there.
    pub visible_fractions: Vec<f32>,
}

/// The category list in contract order.
pub fn categories() -> Vec<Category> {
    CLASS_NAMES.iter().enumerate().map(|(i, n)| Category { id: i as u64 + 1, name: n.to_string() }).collect()
}

/// Relative path of one frame's PNG.
pub fn frame_path(video_index: usize, frame: usize) -> String {
    format!("videos/{video_index:05}/{frame:05}.png")
}

/// Collects the annotations of one video as its frames are rendered.
pub struct VideoRecorder {
    video_id: u64,
    length: usize,
    tracks: BTreeMap<u64, Annotation>,
}

impl VideoRecorder {
    pub fn new(video_id: u64, length: usize) -> Self {
        VideoRecorder { video_id, length, tracks: BTreeMap::new() }
    }

    /// Records frame `index` (0-based within the video). Only visible objects are stored.
    pub fn add(&mut self, index: usize, truth: &FrameTruth) {
        for (k, o) in truth.visible() {
            let (video_id, length) = (self.video_id, self.length);
            let ann = self.tracks.entry(o.track_id).or_insert_with(|| Annotation {
                id: 0,
                video_id,
                category_id: o.class_id as u64 + 1,
                iscrowd: 0,
                track_id: o.track_id,
                segmentations: vec![None; length],
                areas: vec![None; length],
                bboxes: vec![None; length],
                visible_fractions: vec![0.0; length],
            });
            let b = o.bbox.expect("visible objects have a box");
            ann.segmentations[index] = Some(truth.rle(k));
            ann.areas[index] = Some(o.visible_area as u64);
            ann.bboxes[index] = Some([b.x, b.y, b.w, b.h]);
            ann.visible_fractions[index] = o.visible_fraction;
        }
    }

    /// The tracks seen at least once, in track order, numbered from `first_id`.
    pub fn finish(self, first_id: u64) -> Vec<Annotation> {
        self.tracks.into_values().zip(first_id..).map(|(a, id)| Annotation { id, ..a }).collect()
    }
}
