//! Drawing the objects of one frame: translucent masks, contours, boxes, captions.
use super::canvas::{Canvas, Color};
use super::font;
use super::labels::LabelMap;

/// What to draw (element properties).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Mask opacity, 0..=255.
    pub alpha: u32,
    pub contours: bool,
    pub boxes: bool,
    pub labels: bool,
}

/// One object ready to draw, in frame pixels.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub color: Color,
    /// x0, y0, x1, y1 (exclusive).
    pub bbox: [i64; 4],
    pub caption: String,
}

const BLACK: Color = Color { rgb: [0, 0, 0], yuv: [16, 128, 128] };

/// Blends every labelled pixel with its object's colour; contour pixels (a 4-neighbour
/// with another label) are opaque.
pub fn masks(canvas: &mut Canvas, map: &LabelMap, objects: &[Drawn], style: &Style) {
    let (w, h) = (map.width.min(canvas.width), map.height.min(canvas.height));
    for y in 0..h {
        for x in 0..w {
            let l = map.get(x, y);
            if l == 0 {
                continue;
            }
            let edge = style.contours
                && ((x > 0 && map.get(x - 1, y) != l)
                    || (x + 1 < w && map.get(x + 1, y) != l)
                    || (y > 0 && map.get(x, y - 1) != l)
                    || (y + 1 < h && map.get(x, y + 1) != l));
            let color = &objects[l as usize - 1].color;
            canvas.put(x, y, color, if edge { 255 } else { style.alpha });
        }
    }
}

/// Box outline of thickness `t`, inside the box.
pub fn outline(canvas: &mut Canvas, [x0, y0, x1, y1]: [i64; 4], color: &Color, t: i64) {
    canvas.fill(x0, y0, x1, y0 + t, color, 255);
    canvas.fill(x0, y1 - t, x1, y1, color, 255);
    canvas.fill(x0, y0, x0 + t, y1, color, 255);
    canvas.fill(x1 - t, y0, x1, y1, color, 255);
}

/// Caption on a solid tag of the object's colour, above the box when there is room.
pub fn caption(canvas: &mut Canvas, text: &str, [x0, y0, _, _]: [i64; 4], color: &Color, scale: usize) {
    let (tw, th) = font::text_size(text, scale);
    let pad = scale as i64;
    let tag_h = th as i64 + 2 * pad;
    let top = if y0 - tag_h >= 0 { y0 - tag_h } else { y0.max(0) };
    let left = x0.clamp(0, (canvas.width as i64 - tw as i64 - 2 * pad).max(0));
    canvas.fill(left, top, left + tw as i64 + 2 * pad, top + tag_h, color, 255);
    let (ox, oy) = (left + pad, top + pad);
    font::for_each_pixel(text, scale, |dx, dy| {
        let (x, y) = (ox + dx as i64, oy + dy as i64);
        if x >= 0 && y >= 0 {
            canvas.put(x as usize, y as usize, &BLACK, 255);
        }
    });
}

/// Caption scale for a frame height: 1 up to 360 lines, then one step per 360 lines.
pub fn caption_scale(height: usize) -> usize {
    (height / 360).clamp(1, 4)
}

/// Draws everything for one frame.
pub fn frame(canvas: &mut Canvas, map: &LabelMap, objects: &[Drawn], style: &Style) {
    masks(canvas, map, objects, style);
    let scale = caption_scale(canvas.height);
    for o in objects {
        if style.boxes {
            outline(canvas, o.bbox, &o.color, scale as i64);
        }
    }
    if style.labels {
        for o in objects {
            caption(canvas, &o.caption, o.bbox, &o.color, scale);
        }
    }
}
