//! CUDA twins of the CPU kernels: C sources compiled at run time by NVRTC and launched
//! through the CUDA driver API (cudarc with dynamic loading, so the crate builds and runs
//! on machines without CUDA).
//!
//! STATUS: COMPILED, NOT RUN. The tests compile every kernel with NVRTC (the
//! `nvidia-cuda-nvrtc-cu12` wheel) to a CUBIN for each of [`nvrtc::REAL_TARGETS`] and check
//! each entry point is in it; a host harness executes the `.cu` sources on the CPU over their
//! launch grid and compares them with the CPU twins (tests/cuda_host.rs). The launch
//! path ([`GpuKernels`]) has never executed on a GPU in this project: no GPU exists here.
//! The CPU kernels in `preprocess.rs` / `postprocess.rs` are the reference these must match.
//!
//! Every entry point probes for the CUDA libraries first: without them you get a
//! [`CudaError`], never a panic (cudarc panics when a library is missing at first use).
use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;

use super::preprocess::{check_frame, yuv_matrix, Preprocessor};
use crate::frame::{FrameRef, PixelFormat};
use crate::mask::Mask;
use crate::tensor::Tensor;

pub mod nvrtc;

/// One `.cu` file and the `extern "C"` kernels it defines.
pub struct KernelSource {
    pub file: &'static str,
    pub source: &'static str,
    pub entries: &'static [&'static str],
}

pub const SOURCES: [KernelSource; 2] = [
    KernelSource {
        file: "preprocess.cu",
        source: include_str!("preprocess.cu"),
        entries: &["preprocess_packed", "preprocess_i420", "preprocess_nv12"],
    },
    KernelSource { file: "postprocess.cu", source: include_str!("postprocess.cu"), entries: &["upsample_threshold"] },
];

#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("{0} is not available (CUDA library not found on the library path)")]
    Missing(&'static str),
    #[error("NVRTC failed on {file}: {msg}")]
    Compile { file: &'static str, msg: String },
    #[error("CUDA driver: {0}")]
    Driver(String),
}

fn driver(e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver(format!("{e:?}"))
}

/// True when `libnvrtc` can be loaded: from the library path, or else from the
/// `nvidia-cuda-nvrtc-cu12` wheel of the `python3` on PATH (preloaded once).
pub fn nvrtc_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: only tries to dlopen the library by its candidate names.
        let on_path = unsafe { cudarc::nvrtc::sys::is_culib_present() };
        on_path || preload_wheel_nvrtc()
    })
}

/// dlopens `<wheel>/lib/libnvrtc.so.12` with RTLD_GLOBAL and keeps it loaded: cudarc then
/// opens it by soname and glibc returns the loaded copy, so no LD_LIBRARY_PATH is needed.
fn preload_wheel_nvrtc() -> bool {
    let Some(dir) = wheel_nvrtc_dir() else { return false };
    let path = dir.join("libnvrtc.so.12");
    if !path.is_file() {
        return false;
    }
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: loading NVRTC runs no initialisers with preconditions of ours.
    match unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) } {
        Ok(lib) => {
            std::mem::forget(lib);
            // SAFETY: as above.
            unsafe { cudarc::nvrtc::sys::is_culib_present() }
        }
        Err(_) => false,
    }
}

/// The wheel's library directory, asked from python3 (the package is a namespace package).
pub fn wheel_nvrtc_dir() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import nvidia.cuda_nvrtc as m;print(list(m.__path__)[0])"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !dir.trim().is_empty()).then(|| std::path::Path::new(dir.trim()).join("lib"))
}

/// True when `libcuda` (the driver, installed with an NVIDIA GPU driver) can be loaded.
pub fn driver_available() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Compiles one source to a CUBIN for a GPU of compute capability `cc` (see [`nvrtc`]).
pub fn compile_for_device(src: &KernelSource, cc: (i32, i32)) -> Result<Ptx, CudaError> {
    match nvrtc::compile_for(src, &nvrtc::real_arch(cc.0, cc.1))? {
        nvrtc::Image::Cubin(bytes) => Ok(Ptx::from_binary(bytes)),
        nvrtc::Image::Ptx(text) => Ok(Ptx::from_src(text)),
    }
}

/// Loaded kernels on one GPU plus reusable device buffers. COMPILED, NOT RUN (see module doc).
pub struct GpuKernels {
    stream: Arc<CudaStream>,
    packed: CudaFunction,
    i420: CudaFunction,
    nv12: CudaFunction,
    upsample: CudaFunction,
    planes: [Option<CudaSlice<u8>>; 3],
    image: Option<CudaSlice<f32>>,
    logits: Option<CudaSlice<f32>>,
    mask: Option<CudaSlice<u8>>,
}

impl GpuKernels {
    /// Compiles and loads every kernel on GPU `ordinal`.
    pub fn new(ordinal: usize) -> Result<GpuKernels, CudaError> {
        if !driver_available() {
            return Err(CudaError::Missing("libcuda"));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver)?;
        let cc = ctx.compute_capability().map_err(driver)?;
        let pre = ctx.load_module(compile_for_device(&SOURCES[0], cc)?).map_err(driver)?;
        let post = ctx.load_module(compile_for_device(&SOURCES[1], cc)?).map_err(driver)?;
        let f = |m: &Arc<cudarc::driver::CudaModule>, n: &str| m.load_function(n).map_err(driver);
        Ok(GpuKernels {
            stream: ctx.default_stream(),
            packed: f(&pre, "preprocess_packed")?,
            i420: f(&pre, "preprocess_i420")?,
            nv12: f(&pre, "preprocess_nv12")?,
            upsample: f(&post, "upsample_threshold")?,
            planes: [None, None, None],
            image: None,
            logits: None,
            mask: None,
        })
    }

    /// GPU twin of [`Preprocessor::run`]; the result is copied back into `out`.
    pub fn preprocess(&mut self, pre: &Preprocessor, frame: &FrameRef, out: &mut Tensor) -> Result<(), CudaError> {
        check_frame(frame).map_err(|e| CudaError::Driver(e.to_string()))?;
        let n_planes = match frame.format {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        };
        for i in 0..n_planes {
            let buf = ensure(&self.stream, &mut self.planes[i], frame.planes[i].len())?;
            self.stream.memcpy_htod(frame.planes[i], &mut buf.slice_mut(..frame.planes[i].len())).map_err(driver)?;
        }
        let (ow, oh) = (pre.width, pre.height);
        ensure(&self.stream, &mut self.image, 3 * ow * oh)?;
        let (scale, bias) = pre.scale_bias();
        let consts = self.stream.clone_htod(&[scale, bias].concat()).map_err(driver)?;
        let matrix = yuv_matrix(frame.height);
        let m = self.stream.clone_htod(&[matrix.rv, matrix.gu, matrix.gv, matrix.bu]).map_err(driver)?;
        let (scale_d, bias_d) = (consts.slice(0..3), consts.slice(3..6));
        let (w, h) = (frame.width as i32, frame.height as i32);
        let (s0, s1, s2) = (frame.strides[0] as i32, frame.strides[1] as i32, frame.strides[2] as i32);
        let (ow_i, oh_i) = (ow as i32, oh as i32);
        let cfg = grid(ow, oh);
        let image = self.image.as_mut().expect("ensured above");
        let [p0, p1, p2] = &self.planes;
        let mut b = match frame.format {
            PixelFormat::I420 => self.stream.launch_builder(&self.i420),
            PixelFormat::Nv12 => self.stream.launch_builder(&self.nv12),
            _ => self.stream.launch_builder(&self.packed),
        };
        let (bpp, order) = packed_layout(frame.format);
        b.arg(p0.as_ref().expect("plane 0 uploaded"));
        match frame.format {
            PixelFormat::I420 => {
                b.arg(p1.as_ref().expect("plane 1")).arg(p2.as_ref().expect("plane 2"));
                b.arg(&w).arg(&h).arg(&s0).arg(&s1).arg(&s2).arg(&m);
            }
            PixelFormat::Nv12 => {
                b.arg(p1.as_ref().expect("plane 1"));
                b.arg(&w).arg(&h).arg(&s0).arg(&s1).arg(&m);
            }
            _ => {
                b.arg(&w).arg(&h).arg(&s0).arg(&bpp).arg(&order[0]).arg(&order[1]).arg(&order[2]);
            }
        }
        b.arg(&mut *image).arg(&ow_i).arg(&oh_i).arg(&scale_d).arg(&bias_d);
        // SAFETY: argument order and types match the kernel signatures in preprocess.cu;
        // every buffer was sized above for the launch grid.
        unsafe { b.launch(cfg) }.map_err(driver)?;
        out.resize(&[1, 3, oh, ow]);
        self.stream.memcpy_dtoh(&image.slice(..3 * ow * oh), &mut out.data[..]).map_err(driver)
    }

    /// GPU twin of [`super::postprocess::MaskUpsampler::run`] (without the box).
    pub fn upsample_threshold(
        &mut self,
        logits: &[f32],
        (w4, h4): (usize, usize),
        (out_w, out_h): (usize, usize),
        out: &mut Mask,
    ) -> Result<(), CudaError> {
        let src = ensure(&self.stream, &mut self.logits, logits.len())?;
        self.stream.memcpy_htod(logits, &mut src.slice_mut(..logits.len())).map_err(driver)?;
        ensure(&self.stream, &mut self.mask, out_w * out_h)?;
        let (src, dst) = (self.logits.as_ref().expect("ensured"), self.mask.as_mut().expect("ensured"));
        let (a, b, c, d) = (w4 as i32, h4 as i32, out_w as i32, out_h as i32);
        let mut l = self.stream.launch_builder(&self.upsample);
        l.arg(src).arg(&a).arg(&b).arg(&mut *dst).arg(&c).arg(&d);
        // SAFETY: matches `upsample_threshold` in postprocess.cu; buffers sized above.
        unsafe { l.launch(grid(out_w, out_h)) }.map_err(driver)?;
        out.width = out_w;
        out.height = out_h;
        out.data.resize(out_w * out_h, 0);
        self.stream.memcpy_dtoh(&dst.slice(..out_w * out_h), &mut out.data[..]).map_err(driver)
    }
}

/// Threads per block side: 16x16 blocks, one thread per output pixel.
pub const BLOCK_SIDE: u32 = 16;

/// (grid, block) sizes that cover a `w` x `h` output; the host harness uses the same.
pub fn launch_dims(w: usize, h: usize) -> ((u32, u32), (u32, u32)) {
    (((w as u32).div_ceil(BLOCK_SIDE), (h as u32).div_ceil(BLOCK_SIDE)), (BLOCK_SIDE, BLOCK_SIDE))
}

fn grid(w: usize, h: usize) -> LaunchConfig {
    let ((gx, gy), (bx, by)) = launch_dims(w, h);
    LaunchConfig { grid_dim: (gx, gy, 1), block_dim: (bx, by, 1), shared_mem_bytes: 0 }
}

/// `preprocess_packed`'s bytes per pixel and byte offsets of R, G, B for a packed format.
pub fn packed_layout(format: PixelFormat) -> (i32, [i32; 3]) {
    match format {
        PixelFormat::Rgb => (3, [0, 1, 2]),
        PixelFormat::Bgrx => (4, [2, 1, 0]),
        _ => (4, [0, 1, 2]),
    }
}

/// Grows a cached device buffer to at least `len` elements (never shrinks: no per-frame allocation).
fn ensure<'a, T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    slot: &'a mut Option<CudaSlice<T>>,
    len: usize,
) -> Result<&'a mut CudaSlice<T>, CudaError> {
    if slot.as_ref().is_none_or(|s| s.len() < len) {
        *slot = Some(stream.alloc_zeros::<T>(len.max(1)).map_err(driver)?);
    }
    Ok(slot.as_mut().expect("just set"))
}
