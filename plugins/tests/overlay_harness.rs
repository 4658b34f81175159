//! `segoverlay` in a gst_check::Harness: pixels change where a mask is and nowhere else,
//! in packed RGB and planar YUV; captions, no-meta and malformed-meta cases.
mod segment_support;

use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::VideoFormat;
use gstsegstream::meta;
use segment_support::*;
use segstream::mask::{BBox, Mask};
use segstream::segmenter::{FrameResult, ObjectResult};

const GRAY: u8 = 100;

fn rect_object(id: u64, (mw, mh): (usize, usize), (x0, y0, x1, y1): (usize, usize, usize, usize), scale: f32) -> ObjectResult {
    let mut mask = Mask::new(mw, mh);
    for y in y0..y1 {
        for x in x0..x1 {
            mask.set(x, y, true);
        }
    }
    let bbox = BBox { x: x0 as f32 * scale, y: y0 as f32 * scale, w: (x1 - x0) as f32 * scale, h: (y1 - y0) as f32 * scale };
    ObjectResult { track_id: id, class_id: 0, label: "disc".into(), score: 0.9, bbox, mask }
}

fn with_meta(mut buffer: gst::Buffer, w: usize, h: usize, objects: Vec<ObjectResult>) -> gst::Buffer {
    let result = FrameResult { frame: 0, width: w, height: h, model: "test".into(), objects };
    meta::attach(buffer.get_mut().unwrap(), &result);
    buffer
}

fn overlay(format: VideoFormat, w: u32, h: u32, props: &[(&str, &str)]) -> gst_check::Harness {
    init();
    let element = gst::ElementFactory::make("segoverlay").build().unwrap();
    for (k, v) in props {
        element.set_property_from_str(k, v);
    }
    let mut harness = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    harness.set_src_caps(caps(format, w, h));
    harness.play();
    harness
}

const PLAIN: [(&str, &str); 2] = [("draw-boxes", "false"), ("draw-labels", "false")];

/// RGB pixel at (x, y) of a packed 3-byte frame.
fn rgb(data: &[u8], w: usize, x: usize, y: usize) -> [u8; 3] {
    let p = (y * w + x) * 3;
    [data[p], data[p + 1], data[p + 2]]
}

#[test]
fn rgb_pixels_change_inside_the_mask_only() {
    let (w, h) = (64usize, 48usize);
    let mut hs = overlay(VideoFormat::Rgb, 64, 48, &PLAIN);
    let obj = rect_object(1, (w, h), (10, 8, 30, 20), 1.0);
    let mask = obj.mask.clone();
    let out = hs.push_and_pull(with_meta(flat(VideoFormat::Rgb, 64, 48, GRAY), w, h, vec![obj])).unwrap();
    let data = out.map_readable().unwrap();
    let interior = rgb(&data, w, 20, 14);
    let contour = rgb(&data, w, 10, 14);
    assert_ne!(interior, [GRAY; 3], "mask interior is tinted");
    assert_ne!(interior, contour, "contour is opaque, interior translucent");
    for y in 0..h {
        for x in 0..w {
            let px = rgb(&data, w, x, y);
            if !mask.get(x, y) {
                assert_eq!(px, [GRAY; 3], "({x},{y}) outside the mask changed");
            } else if x > 10 && x < 29 && y > 8 && y < 19 {
                assert_eq!(px, interior, "({x},{y}) interior differs");
            } else {
                assert_eq!(px, contour, "({x},{y}) contour differs");
            }
        }
    }
}

#[test]
fn alpha_one_fills_opaquely_and_zero_leaves_only_contours() {
    let (w, h) = (32usize, 32usize);
    for (alpha, interior_changed) in [("1.0", true), ("0.0", false)] {
        let mut hs = overlay(VideoFormat::Rgb, 32, 32, &[PLAIN[0], PLAIN[1], ("alpha", alpha)]);
        let obj = rect_object(3, (w, h), (4, 4, 20, 20), 1.0);
        let out = hs.push_and_pull(with_meta(flat(VideoFormat::Rgb, 32, 32, GRAY), w, h, vec![obj])).unwrap();
        let data = out.map_readable().unwrap();
        let (interior, contour) = (rgb(&data, w, 10, 10), rgb(&data, w, 4, 10));
        assert_ne!(contour, [GRAY; 3]);
        if interior_changed {
            assert_eq!(interior, contour, "alpha 1: interior has the full colour");
        } else {
            assert_eq!(interior, [GRAY; 3], "alpha 0: interior untouched");
        }
    }
}

#[test]
fn tracks_get_different_colours_and_low_res_masks_are_scaled() {
    let (w, h) = (64usize, 48usize);
    let mut hs = overlay(VideoFormat::Rgba, 64, 48, &PLAIN);
    // Masks at half resolution: mask pixel (x, y) covers frame pixels (2x..2x+2, 2y..2y+2).
    let a = rect_object(1, (32, 24), (2, 2, 10, 10), 2.0);
    let b = rect_object(2, (32, 24), (16, 4, 28, 20), 2.0);
    let out = hs.push_and_pull(with_meta(flat(VideoFormat::Rgba, 64, 48, GRAY), w, h, vec![a, b])).unwrap();
    let data = out.map_readable().unwrap();
    let px = |x: usize, y: usize| -> [u8; 3] {
        let p = (y * w + x) * 4;
        [data[p], data[p + 1], data[p + 2]]
    };
    assert_ne!(px(10, 10), [GRAY; 3]);
    assert_ne!(px(44, 20), [GRAY; 3]);
    assert_ne!(px(10, 10), px(44, 20), "track 1 and track 2 colours differ");
    assert_eq!(px(3, 10), [GRAY; 3], "left of mask a (frame x < 4)");
    assert_ne!(px(4, 10), [GRAY; 3], "mask a starts at frame x 4");
    assert_eq!(px(20, 10), [GRAY; 3], "between the masks (frame x 20..32)");
    assert_eq!(px(40, 44), [GRAY; 3], "below mask b");
}

#[test]
fn yuv_formats_blend_luma_and_chroma_inside_only() {
    let (w, h) = (48usize, 32usize);
    for format in [VideoFormat::I420, VideoFormat::Nv12] {
        let mut hs = overlay(format, 48, 32, &PLAIN);
        let obj = rect_object(5, (w, h), (8, 8, 24, 20), 1.0);
        let input = flat(format, 48, 32, 128);
        let out = hs.push_and_pull(with_meta(input, w, h, vec![obj.clone()])).unwrap();
        let info = gst_video::VideoInfo::builder(format, 48, 32).build().unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info).unwrap();
        let (y_plane, ys) = (frame.plane_data(0).unwrap(), frame.plane_stride()[0] as usize);
        for y in 0..h {
            for x in 0..w {
                let changed = y_plane[y * ys + x] != 128;
                assert_eq!(changed, obj.mask.get(x, y), "{format:?} luma at ({x},{y})");
            }
        }
        let (c_plane, cs) = (frame.plane_data(1).unwrap(), frame.plane_stride()[1] as usize);
        let bpc = if format == VideoFormat::Nv12 { 2 } else { 1 };
        assert_ne!(c_plane[8 * cs + 8 * bpc], 128, "{format:?} chroma inside");
        assert_eq!(c_plane[2 * cs + 2 * bpc], 128, "{format:?} chroma outside");
    }
}

#[test]
fn boxes_and_captions_are_drawn_above_the_box() {
    let (w, h) = (128usize, 96usize);
    let mut hs = overlay(VideoFormat::Rgb, 128, 96, &[]);
    let obj = rect_object(1, (w, h), (10, 30, 60, 70), 1.0);
    let out = hs.push_and_pull(with_meta(flat(VideoFormat::Rgb, 128, 96, GRAY), w, h, vec![obj])).unwrap();
    let data = out.map_readable().unwrap();
    // Caption "1:disc 0.90": 11 glyphs of 6 px - 1 + 2 px padding = 67 px wide, 9 px tall,
    // on the rows right above the box (21..30), from x = 10.
    let tag: Vec<[u8; 3]> = (21..30).flat_map(|y| (10..77).map(move |x| (x, y))).map(|(x, y)| rgb(&data, w, x, y)).collect();
    let black = tag.iter().filter(|p| **p == [0, 0, 0]).count();
    assert!(black > 60, "caption text pixels: {black}");
    assert!(tag.iter().all(|p| *p != [GRAY; 3]), "the tag background covers its rectangle");
    assert_eq!(rgb(&data, w, 78, 25), [GRAY; 3], "right of the tag");
    assert_eq!(rgb(&data, w, 30, 19), [GRAY; 3], "above the tag");
    assert_eq!(rgb(&data, w, 70, 50), [GRAY; 3], "right of the box");
}

#[test]
fn frames_without_meta_pass_unchanged() {
    let mut hs = overlay(VideoFormat::Bgrx, 40, 30, &[]);
    let input = frame(VideoFormat::Bgrx, 40, 30, 3);
    let expected = input.map_readable().unwrap().to_vec();
    let out = hs.push_and_pull(input).unwrap();
    assert_eq!(out.map_readable().unwrap().as_slice(), expected.as_slice());
}

#[test]
fn malformed_meta_warns_and_leaves_the_frame() {
    let mut hs = overlay(VideoFormat::Rgb, 32, 32, &[]);
    let bus = gst::Bus::new();
    hs.element().unwrap().set_bus(Some(&bus));
    let mut obj = rect_object(1, (32, 32), (4, 4, 20, 20), 1.0);
    obj.mask = Mask::new(32, 32);
    let mut buffer = with_meta(flat(VideoFormat::Rgb, 32, 32, GRAY), 32, 32, vec![obj]);
    // Corrupt the mask: declare a bigger size than the RLE covers.
    {
        let b = buffer.get_mut().unwrap();
        let mut m = gst::meta::CustomMeta::from_mut_buffer(b, meta::META_NAME).unwrap();
        let s = m.mut_structure();
        let objects = s.get::<gst::Array>("objects").unwrap();
        let mut o = objects.as_slice()[0].get::<gst::Structure>().unwrap();
        o.set("mask-width", 33u32);
        s.set("objects", gst::Array::new([o]));
    }
    let out = hs.push_and_pull(buffer).unwrap();
    assert!(out.map_readable().unwrap().iter().all(|&v| v == GRAY));
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .expect("a warning");
    assert!(warning.contains("33x32"), "{warning}");
}
