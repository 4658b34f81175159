//! CUDA twins of the CPU kernels: C sources compiled at run time by NVRTC and launched
//! through the CUDA driver API (cudarc with dynamic loading, so the crate builds and runs
//! on machines without CUDA).
//!
//! STATUS: COMPILED, NOT RUN. The tests compile every kernel with NVRTC (the
//! `nvidia-cuda-nvrtc-cu12` wheel) to a CUBIN for each of [`nvrtc::REAL_TARGETS`] and check
//! each entry point is in it; a host harness executes the `.cu` sources on the CPU over their
//! launch grid and compares them with the CPU twins (tests/cuda_host.rs). The launch
//! path ([`GpuKernels`]) has never executed on a GPU in this project: no GPU exists here.
//!
//! Device residency (what crosses the bus, docs/GPU.md): the frame goes up once through a
//! pinned staging buffer; the preprocessed image stays on the device as the encoder's input
//! ([`crate::model::DeviceImage`]); each kept object's mask logits go up in one batch and
//! only the window of its mask that can hold foreground comes down, through pinned memory.
//! Every buffer is allocated once per size and grown, never shrunk.
//! The CPU kernels in `preprocess.rs` / `postprocess.rs` are the reference these must match.
//!
//! Every entry point probes for the CUDA libraries first: without them you get a
//! [`CudaError`], never a panic (cudarc panics when a library is missing at first use).
use std::sync::OnceLock;

use cudarc::driver::LaunchConfig;
use cudarc::nvrtc::Ptx;

use crate::frame::PixelFormat;

mod launch;
pub mod nvrtc;
pub(crate) mod staging;

pub use launch::GpuKernels;

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
    KernelSource { file: "postprocess.cu", source: include_str!("postprocess.cu"), entries: &["upsample_threshold_window"] },
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
