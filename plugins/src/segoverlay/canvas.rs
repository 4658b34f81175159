//! Pixel writes on a mapped frame of any supported format, with alpha blending.
//!
//! Packed formats are written in RGB; for I420/NV12 the colour is converted once to YUV
//! (BT.601 limited range, what videoconvert assumes for SD and a close match otherwise)
//! and luma is blended per pixel, chroma once per 2x2 block (on even x and y) so a block
//! is not blended four times.
use gst_video::prelude::*;
use gst_video::VideoFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    pub rgb: [u8; 3],
    pub yuv: [u8; 3],
}

impl Color {
    pub fn from_rgb(rgb: [u8; 3]) -> Color {
        let [r, g, b] = rgb.map(|v| v as f32);
        let y = 16.0 + (65.738 * r + 129.057 * g + 25.064 * b) / 256.0;
        let u = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0;
        let v = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0;
        Color { rgb, yuv: [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8) }
    }

    /// A bright colour per track id (golden-angle hue steps keep neighbours apart).
    pub fn for_track(id: u64) -> Color {
        let hue = (id as f64 * 137.507_764) % 360.0;
        Color::from_rgb(hsv(hue as f32, 0.8, 1.0))
    }
}

fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|t| ((t + m) * 255.0).round() as u8)
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    /// Byte offsets of R, G, B in a pixel, and bytes per pixel.
    Packed {
        r: usize,
        g: usize,
        b: usize,
        bpp: usize,
    },
    I420,
    Nv12,
}

pub struct Canvas<'a> {
    layout: Layout,
    pub width: usize,
    pub height: usize,
    planes: [&'a mut [u8]; 4],
    strides: [usize; 3],
}

#[inline]
fn mix(dst: &mut u8, src: u8, alpha: u32) {
    *dst = ((*dst as u32 * (255 - alpha) + src as u32 * alpha + 127) / 255) as u8;
}

impl<'a> Canvas<'a> {
    /// `None` for a format the overlay does not draw on.
    pub fn new(frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>) -> Option<Canvas<'a>> {
        let layout = match frame.format() {
            VideoFormat::Rgb => Layout::Packed { r: 0, g: 1, b: 2, bpp: 3 },
            VideoFormat::Rgba => Layout::Packed { r: 0, g: 1, b: 2, bpp: 4 },
            VideoFormat::Bgrx => Layout::Packed { r: 2, g: 1, b: 0, bpp: 4 },
            VideoFormat::I420 => Layout::I420,
            VideoFormat::Nv12 => Layout::Nv12,
            _ => return None,
        };
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let mut strides = [0usize; 3];
        for (i, s) in frame.plane_stride().iter().take(3).enumerate() {
            strides[i] = *s as usize;
        }
        Some(Canvas { layout, width, height, planes: frame.planes_data_mut(), strides })
    }

    /// Blends `color` at (x, y) with `alpha` in 0..=255 (255 = opaque); outside: no-op.
    #[inline]
    pub fn put(&mut self, x: usize, y: usize, color: &Color, alpha: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        match self.layout {
            Layout::Packed { r, g, b, bpp } => {
                let p = y * self.strides[0] + x * bpp;
                let px = &mut self.planes[0][p..p + bpp];
                mix(&mut px[r], color.rgb[0], alpha);
                mix(&mut px[g], color.rgb[1], alpha);
                mix(&mut px[b], color.rgb[2], alpha);
            }
            Layout::I420 | Layout::Nv12 => self.put_yuv(x, y, color, alpha),
        }
    }

    fn put_yuv(&mut self, x: usize, y: usize, color: &Color, alpha: u32) {
        mix(&mut self.planes[0][y * self.strides[0] + x], color.yuv[0], alpha);
        if !x.is_multiple_of(2) || !y.is_multiple_of(2) {
            return;
        }
        let (cx, cy) = (x / 2, y / 2);
        if let Layout::I420 = self.layout {
            mix(&mut self.planes[1][cy * self.strides[1] + cx], color.yuv[1], alpha);
            mix(&mut self.planes[2][cy * self.strides[2] + cx], color.yuv[2], alpha);
        } else {
            let p = cy * self.strides[1] + 2 * cx;
            mix(&mut self.planes[1][p], color.yuv[1], alpha);
            mix(&mut self.planes[1][p + 1], color.yuv[2], alpha);
        }
    }

    /// Fills the rectangle [x0, x1) x [y0, y1), clipped to the frame.
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: &Color, alpha: u32) {
        let cx = |v: i64| v.clamp(0, self.width as i64) as usize;
        let cy = |v: i64| v.clamp(0, self.height as i64) as usize;
        let (x0, x1, y0, y1) = (cx(x0), cx(x1), cy(y0), cy(y1));
        for y in y0..y1 {
            for x in x0..x1 {
                self.put(x, y, color, alpha);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuv_of_primaries_matches_bt601() {
        assert_eq!(Color::from_rgb([255, 255, 255]).yuv, [235, 128, 128]);
        assert_eq!(Color::from_rgb([0, 0, 0]).yuv, [16, 128, 128]);
        let red = Color::from_rgb([255, 0, 0]).yuv;
        assert!((red[0] as i32 - 81).abs() <= 1 && (red[2] as i32 - 240).abs() <= 1, "{red:?}");
    }

    #[test]
    fn track_colours_differ_for_neighbouring_ids() {
        for id in 0..20u64 {
            assert_ne!(Color::for_track(id).rgb, Color::for_track(id + 1).rgb);
        }
    }

    #[test]
    fn mix_extremes() {
        let mut v = 10u8;
        mix(&mut v, 200, 255);
        assert_eq!(v, 200);
        mix(&mut v, 0, 0);
        assert_eq!(v, 200);
    }
}
