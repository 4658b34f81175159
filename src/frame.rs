//! A borrowed video frame in one of the supported raw formats.
//!
//! At the bottom of the crate: the kernels read it and the segmenter passes it on, so neither
//! depends on the other for it.

/// A video frame in one of the supported raw formats, borrowed from the caller.
pub struct FrameRef<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// One slice per plane (1 for packed RGB formats, 3 for I420, 2 for NV12).
    pub planes: [&'a [u8]; 3],
    /// Row stride in bytes of each plane.
    pub strides: [usize; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Rgba,
    Bgrx,
    I420,
    Nv12,
}
