//! NVRTC compilation for real GPU targets.
//!
//! On a device the kernels are compiled to a CUBIN for the GPU's own `sm_XY` (read from the
//! driver), so the driver loads machine code and never JIT-compiles PTX. That matters on
//! Jetson: PTX carries the ISA version of the NVRTC that wrote it (8.8 from the 12.9 wheel),
//! and a driver older than that NVRTC refuses it (JetPack 6.0 ships CUDA 12.2: PTX ISA <= 8.2;
//! JetPack 6.1 ships 12.6: <= 8.5). A CUBIN has no such gate within CUDA 12 (minor-version
//! compatibility), and the system NVRTC (the device's own toolkit) is preferred anyway.
//!
//! cudarc's safe wrapper returns PTX only, so the CUBIN path drives NVRTC's
//! create/compile/get-CUBIN calls through `cudarc::nvrtc::result` and `sys` directly.
use std::ffi::CString;

use cudarc::nvrtc::{result, sys};

use super::{nvrtc_available, CudaError, KernelSource};

/// Real targets every kernel is checked to compile for: Jetson Xavier (sm_72), Turing
/// (sm_75), A100 (sm_80), Ampere desktop (sm_86), Jetson Orin (sm_87), Ada (sm_89),
/// Hopper (sm_90).
pub const REAL_TARGETS: [&str; 7] = ["sm_72", "sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90"];

/// Options shared by every compile: C++17, no fast-math, and no FMA contraction
/// (`--fmad=false`; NVRTC contracts `a + b * c` by default): each step rounds as in the CPU
/// twins (Rust does not contract) and the host harness (`-ffp-contract=off`), so a GPU
/// gives their bits, not a last-bit difference at a mask's 0-crossing.
const BASE_OPTIONS: [&str; 2] = ["--std=c++17", "--fmad=false"];

/// NVRTC's version (e.g. `(12, 9)`).
pub fn version() -> Result<(i32, i32), CudaError> {
    if !nvrtc_available() {
        return Err(CudaError::Missing("libnvrtc"));
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two out-pointers to live integers.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(|e| CudaError::Driver(format!("nvrtcVersion: {e:?}")))?;
    Ok((major, minor))
}

/// Output of one compile.
pub enum Image {
    Ptx(String),
    Cubin(Vec<u8>),
}

/// Compiles `src` for `arch`: `sm_XY` gives a CUBIN, `compute_XY` gives PTX.
pub fn compile_for(src: &KernelSource, arch: &str) -> Result<Image, CudaError> {
    if !nvrtc_available() {
        return Err(CudaError::Missing("libnvrtc"));
    }
    let fail = |msg: String| CudaError::Compile { file: src.file, msg };
    let code = CString::new(src.source).map_err(|e| fail(e.to_string()))?;
    let name = CString::new(src.file).map_err(|e| fail(e.to_string()))?;
    let prog = result::create_program(&code, Some(&name)).map_err(|e| fail(format!("{e:?}")))?;
    let mut options: Vec<String> = BASE_OPTIONS.iter().map(|s| s.to_string()).collect();
    options.push(format!("--gpu-architecture={arch}"));
    // SAFETY: `prog` was just created and is destroyed once below, after the last use.
    let out = unsafe { compile_and_read(prog, &options, arch.starts_with("sm_")) };
    // SAFETY: as above; `code` and `name` outlive the program.
    let _ = unsafe { result::destroy_program(prog) };
    out.map_err(fail)
}

/// # Safety
/// `prog` must be a live program from `create_program`.
unsafe fn compile_and_read(prog: sys::nvrtcProgram, options: &[String], cubin: bool) -> Result<Image, String> {
    if let Err(e) = unsafe { result::compile_program(prog, options) } {
        let log = unsafe { result::get_program_log(prog) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
        return Err(format!("{e:?}: {log}"));
    }
    if !cubin {
        let ptx = unsafe { result::get_ptx(prog) }.map_err(|e| format!("{e:?}"))?;
        return Ok(Image::Ptx(c_chars_to_string(&ptx)));
    }
    let mut size = 0usize;
    unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) }.result().map_err(|e| format!("nvrtcGetCUBINSize: {e:?}"))?;
    let mut bytes = vec![0u8; size];
    unsafe { sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr().cast()) }.result().map_err(|e| format!("nvrtcGetCUBIN: {e:?}"))?;
    Ok(Image::Cubin(bytes))
}

fn c_chars_to_string(v: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = v.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The PTX ISA version written in a PTX text (`.version 8.8` -> `(8, 8)`).
pub fn ptx_isa(ptx: &str) -> Option<(u32, u32)> {
    let v = ptx.lines().find_map(|l| l.trim().strip_prefix(".version "))?;
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `sm_XY` for a compute capability `(X, Y)`.
pub fn real_arch(major: i32, minor: i32) -> String {
    format!("sm_{major}{minor}")
}
