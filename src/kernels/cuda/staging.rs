//! Buffers kept between frames: pinned (page-locked) host staging and device memory.
//!
//! Copies from pageable memory go through a driver bounce buffer and block; from pinned
//! memory they are a DMA on the stream. Every buffer here is grown to the largest size seen
//! and never shrunk, so a warm stream allocates nothing per frame (a new frame size or more
//! objects than ever before allocates once). COMPILED, NOT RUN (no GPU here).
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DeviceRepr, PinnedHostSlice, ValidAsZeroBits};

use super::{driver, CudaError};

/// Which way a pinned buffer's data travels: write-combined memory is fast for the CPU to
/// write and the DMA engine to read, but very slow for the CPU to read.
#[derive(Clone, Copy)]
pub enum Direction {
    Up,
    Down,
}

/// A pinned host buffer of at least `len` elements (contents undefined until written).
pub struct Pinned<T> {
    buf: Option<PinnedHostSlice<T>>,
    direction: Direction,
}

impl<T: DeviceRepr + ValidAsZeroBits> Pinned<T> {
    pub fn new(direction: Direction) -> Self {
        Pinned { buf: None, direction }
    }

    /// The first `len` elements, growing the allocation when it is smaller.
    pub fn get(&mut self, ctx: &Arc<CudaContext>, len: usize) -> Result<&mut [T], CudaError> {
        if self.buf.as_ref().is_none_or(|b| b.len() < len) {
            self.buf = None; // free the old block before taking a larger one
            let flags = match self.direction {
                Direction::Up => cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED,
                Direction::Down => 0,
            };
            // SAFETY: the contents are undefined until written; every caller writes (or
            // copies into) the first `len` elements before reading them.
            self.buf = Some(unsafe { ctx.alloc_pinned_with_flags::<T>(len.max(1), flags) }.map_err(driver)?);
        }
        let slice = self.buf.as_mut().expect("just set").as_mut_slice().map_err(driver)?;
        Ok(&mut slice[..len])
    }
}

/// Grows a cached device buffer to at least `len` elements (never shrinks).
pub fn ensure<'a, T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    slot: &'a mut Option<CudaSlice<T>>,
    len: usize,
) -> Result<&'a mut CudaSlice<T>, CudaError> {
    if slot.as_ref().is_none_or(|s| s.len() < len) {
        *slot = None;
        *slot = Some(stream.alloc_zeros::<T>(len.max(1)).map_err(driver)?);
    }
    Ok(slot.as_mut().expect("just set"))
}

/// Copies `dst.len()` floats from device address `src` into `dst` through `staging`
/// (pinned) on `stream`, and waits for the copy.
pub fn download(
    stream: &Arc<CudaStream>,
    staging: &mut Pinned<f32>,
    src: cudarc::driver::sys::CUdeviceptr,
    dst: &mut [f32],
) -> Result<(), CudaError> {
    let down = staging.get(stream.context(), dst.len())?;
    // SAFETY: `src` is a live device allocation of at least dst.len() floats (caller), and
    // `down` stays untouched until the synchronisation below.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(down, src, stream.cu_stream()) }.map_err(driver)?;
    stream.synchronize().map_err(driver)?;
    dst.copy_from_slice(down);
    Ok(())
}
