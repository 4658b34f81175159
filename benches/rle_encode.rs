//! COCO RLE encoding cost of frame-sized masks (what `segment` does per object per frame).
//! `cargo bench -p segstream --bench rle_encode`
use segstream::mask::Mask;
use std::time::Instant;

fn disc(w: usize, h: usize) -> Mask {
    let mut m = Mask::new(w, h);
    let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, h as f32 / 4.0);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            m.set(x, y, dx * dx + dy * dy <= r * r);
        }
    }
    m
}

fn main() {
    for (w, h) in [(320, 240), (1280, 720), (1920, 1080)] {
        let mask = disc(w, h);
        let reps = 20;
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..reps {
            bytes += segstream::rle::encode(&mask).counts.len();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("rle encode {w}x{h} disc: {ms:.2} ms/mask ({} bytes)", bytes / reps);
    }
}
