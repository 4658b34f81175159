//! Outer contour of a binary mask as a polygon (Moore-neighbour tracing).
//!
//! Used for the optional `polygon` field and as the fallback when masks do not fit in
//! `max-message-bytes`. Only the first component in raster order is traced (the payload
//! is a summary, the RLE is the exact shape); points on straight runs are dropped.
use crate::mask::Mask;

/// Clockwise neighbour offsets starting west.
const DIRS: [(i32, i32); 8] = [(-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1)];

/// Contour `[x1, y1, ...]` scaled by `(sx, sy)` (mask -> frame pixels), pixel centres,
/// at most `max_points` points. Empty mask -> `None`.
pub fn outer_contour(mask: &Mask, sx: f32, sy: f32, max_points: usize) -> Option<Vec<f32>> {
    let start = mask.data.iter().position(|&v| v != 0)?;
    let (w, h) = (mask.width as i32, mask.height as i32);
    let on = |x: i32, y: i32| x >= 0 && y >= 0 && x < w && y < h && mask.get(x as usize, y as usize);
    let s = ((start % mask.width) as i32, (start / mask.width) as i32);
    let mut pts = vec![s];
    let (mut cur, mut dir) = (s, 0usize); // came from the west (raster order start)
                                          // A contour visits each boundary pixel at most 4 times; the bound keeps bad input finite.
    for _ in 0..(4 * mask.data.len() + 8) {
        let mut next = None;
        for k in 0..8 {
            let d = (dir + k) % 8;
            let (nx, ny) = (cur.0 + DIRS[d].0, cur.1 + DIRS[d].1);
            if on(nx, ny) {
                next = Some(((nx, ny), (d + 6) % 8));
                break;
            }
        }
        let Some((n, ndir)) = next else { break }; // isolated pixel
        if n == s && pts.len() > 1 {
            break;
        }
        pts.push(n);
        cur = n;
        dir = ndir;
    }
    let pts = drop_collinear(&pts);
    let step = pts.len().div_ceil(max_points.max(3));
    let out = pts.iter().step_by(step.max(1)).flat_map(|&(x, y)| [(x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy]).collect();
    Some(out)
}

fn drop_collinear(pts: &[(i32, i32)]) -> Vec<(i32, i32)> {
    if pts.len() < 3 {
        return pts.to_vec();
    }
    let n = pts.len();
    (0..n)
        .filter(|&i| {
            let (a, b, c) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n]);
            (b.0 - a.0) * (c.1 - b.1) != (b.1 - a.1) * (c.0 - b.0)
        })
        .map(|i| pts[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_gives_its_four_corners() {
        let mut m = Mask::new(10, 8);
        for y in 2..6 {
            for x in 3..8 {
                m.set(x, y, true);
            }
        }
        let p = outer_contour(&m, 1.0, 1.0, 100).unwrap();
        let mut corners: Vec<(f32, f32)> = p.chunks(2).map(|c| (c[0], c[1])).collect();
        corners.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(corners, vec![(3.5, 2.5), (3.5, 5.5), (7.5, 2.5), (7.5, 5.5)]);
    }

    #[test]
    fn empty_mask_has_no_contour_and_point_limit_holds() {
        assert!(outer_contour(&Mask::new(4, 4), 1.0, 1.0, 10).is_none());
        let mut m = Mask::new(64, 64);
        for y in 0..64 {
            for x in 0..64 {
                let (dx, dy) = (x as f32 - 32.0, y as f32 - 32.0);
                m.set(x, y, dx * dx + dy * dy < 400.0);
            }
        }
        let p = outer_contour(&m, 2.0, 2.0, 16).unwrap();
        assert!(p.len() / 2 <= 16 && p.len() / 2 >= 8, "{} points", p.len() / 2);
        assert!(p.iter().all(|&v| (0.0..=128.0).contains(&v)));
    }
}
