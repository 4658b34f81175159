//! The raw video formats of the elements, and a mapped frame as the core library's `FrameRef`.
use gst_video::prelude::*;
use gst_video::VideoFormat;
use segstream::segmenter::{FrameRef, PixelFormat};

/// The formats `segment` and `segoverlay` accept (pad template order = preference).
pub const FORMATS: [VideoFormat; 5] = [VideoFormat::Rgb, VideoFormat::Rgba, VideoFormat::Bgrx, VideoFormat::I420, VideoFormat::Nv12];

pub fn pixel_format(format: VideoFormat) -> Option<PixelFormat> {
    Some(match format {
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

/// Caps of the pad templates: the supported formats at any size and rate.
pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(FORMATS).build()
}

/// Views a readable frame as a `FrameRef` (no copy); `None` for an unsupported format.
pub fn frame_ref<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<FrameRef<'a>> {
    let format = pixel_format(frame.format())?;
    let n = frame.n_planes().min(3) as usize;
    let mut planes: [&[u8]; 3] = [&[], &[], &[]];
    let mut strides = [0usize; 3];
    for p in 0..n {
        planes[p] = frame.plane_data(p as u32).ok()?;
        strides[p] = frame.plane_stride()[p] as usize;
    }
    Some(FrameRef { format, width: frame.width() as usize, height: frame.height() as usize, planes, strides })
}
