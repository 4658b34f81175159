//! Rasterising one object. A pixel belongs to an object exactly when its centre is inside
//! the shape; the same test paints the colour and writes the label, so the ground-truth
//! mask is exactly what was drawn (no anti-aliasing).
use super::objects::Object;

/// Paints `obj` over `canvas` (RGB f32) and stamps `label` into `labels` where it covers a
/// pixel centre. Returns the object's full area: covered pixel centres on an unbounded
/// grid, counting those outside the frame and those later hidden by nearer objects.
pub fn draw(obj: &Object, label: u16, width: usize, height: usize, canvas: &mut [f32], labels: &mut [u16]) -> usize {
    let r = obj.radius();
    let inv = 1.0 / r;
    let (s, c) = obj.angle.sin_cos();
    let [cx, cy] = obj.pos;
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    let mut full = 0;
    for y in y0..=y1 {
        let dy = y as f32 + 0.5 - cy;
        let in_rows = y >= 0 && (y as usize) < height;
        for x in x0..=x1 {
            let dx = x as f32 + 0.5 - cx;
            // Undo the rotation and scale: local coordinates with radius 1.
            let u = (c * dx + s * dy) * inv;
            let v = (-s * dx + c * dy) * inv;
            if !obj.class.contains(u, v) {
                continue;
            }
            full += 1;
            if in_rows && x >= 0 && (x as usize) < width {
                let i = y as usize * width + x as usize;
                labels[i] = label;
                canvas[i * 3..i * 3 + 3].copy_from_slice(&obj.look.shade(u, v));
            }
        }
    }
    full
}
