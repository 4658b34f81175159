//! Synthetic `FrameResult`s for core-level MQTT tests (no model involved): discs that
//! move, with stable track ids; track 3 appears on frame 5 and leaves on frame 15.
use segstream::mask::Mask;
use segstream::segmenter::{FrameResult, ObjectResult};

pub fn disc_frame(n: u64, w: usize, h: usize) -> FrameResult {
    let mut objects = vec![disc(1, 0, "disc", n, w, h, 10.0), disc(2, 4, "ring", n + 7, w, h, 7.0)];
    if (5..15).contains(&n) {
        objects.push(disc(3, 2, "triangle", n * 3, w, h, 5.0));
    }
    FrameResult { frame: n, width: w, height: h, model: "synthetic".into(), objects }
}

fn disc(id: u64, class_id: usize, label: &str, t: u64, w: usize, h: usize, r: f32) -> ObjectResult {
    let cx = (t as f32 * 3.0) % (w as f32);
    let cy = h as f32 / 2.0 + (t as f32 * 0.3).sin() * h as f32 / 4.0;
    let mut mask = Mask::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            mask.set(x, y, dx * dx + dy * dy <= r * r);
        }
    }
    let bbox = mask.bbox().unwrap_or_default();
    ObjectResult { track_id: id, class_id, label: label.into(), score: 0.9, bbox, mask }
}
