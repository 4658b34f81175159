//! The segtrt shim (shim/segtrt.h), loaded with dlopen at run time.
//!
//! Loading at run time (not linking) keeps the crate buildable on machines without
//! TensorRT, CI included; a missing shim is an error naming what to build, never a panic.
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

use libloading::Library;

/// Must equal SEGTRT_ABI_VERSION in shim/segtrt.h.
pub const ABI_VERSION: i32 = 1;
pub const MAX_DIMS: usize = 8;

#[repr(C)]
pub struct RawEngine {
    _private: [u8; 0],
}

/// Function table of the shim; field names mirror segtrt.h.
pub struct Shim {
    _lib: Library,
    pub tensorrt_version: unsafe extern "C" fn() -> i32,
    pub load: unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> *mut RawEngine,
    pub free: unsafe extern "C" fn(*mut RawEngine),
    pub last_error: unsafe extern "C" fn(*const RawEngine) -> *const c_char,
    pub num_io: unsafe extern "C" fn(*const RawEngine) -> i32,
    pub io_name: unsafe extern "C" fn(*const RawEngine, i32) -> *const c_char,
    pub io_is_input: unsafe extern "C" fn(*const RawEngine, *const c_char) -> i32,
    pub io_dtype: unsafe extern "C" fn(*const RawEngine, *const c_char) -> i32,
    pub set_input_shape: unsafe extern "C" fn(*mut RawEngine, *const c_char, *const i64, i32) -> i32,
    pub tensor_shape: unsafe extern "C" fn(*const RawEngine, *const c_char, *mut i64, i32) -> i32,
    pub set_address: unsafe extern "C" fn(*mut RawEngine, *const c_char, *mut c_void) -> i32,
    pub enqueue: unsafe extern "C" fn(*mut RawEngine, *mut c_void) -> i32,
}

/// Where the shim is looked for: `SEGSTREAM_TRT_SHIM`, else `libsegtrt.so` by the
/// dynamic loader's search path (deploy/tensorrt/build-shim.sh installs it there).
pub fn shim_path() -> PathBuf {
    std::env::var_os("SEGSTREAM_TRT_SHIM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("libsegtrt.so"))
}

impl Shim {
    pub fn open(path: &Path) -> Result<Shim, String> {
        // SAFETY: the shim's initialisers only load TensorRT; no preconditions of ours.
        let lib = unsafe { Library::new(path) }.map_err(|e| {
            format!(
                "TensorRT backend: cannot load the segtrt shim `{}` ({e}); build it on a machine with \
                 TensorRT 10 with deploy/tensorrt/build-shim.sh or set SEGSTREAM_TRT_SHIM",
                path.display()
            )
        })?;
        // SAFETY: each symbol is declared in segtrt.h with exactly this signature.
        unsafe {
            let abi: libloading::Symbol<unsafe extern "C" fn() -> i32> = sym(&lib, "segtrt_abi_version")?;
            let found = abi();
            if found != ABI_VERSION {
                return Err(format!("segtrt shim ABI {found}, this segstream needs {ABI_VERSION}: rebuild the shim"));
            }
            Ok(Shim {
                tensorrt_version: *sym(&lib, "segtrt_tensorrt_version")?,
                load: *sym(&lib, "segtrt_load")?,
                free: *sym(&lib, "segtrt_free")?,
                last_error: *sym(&lib, "segtrt_last_error")?,
                num_io: *sym(&lib, "segtrt_num_io")?,
                io_name: *sym(&lib, "segtrt_io_name")?,
                io_is_input: *sym(&lib, "segtrt_io_is_input")?,
                io_dtype: *sym(&lib, "segtrt_io_dtype")?,
                set_input_shape: *sym(&lib, "segtrt_set_input_shape")?,
                tensor_shape: *sym(&lib, "segtrt_tensor_shape")?,
                set_address: *sym(&lib, "segtrt_set_address")?,
                enqueue: *sym(&lib, "segtrt_enqueue")?,
                _lib: lib,
            })
        }
    }
}

/// SAFETY: the caller guarantees `T` matches the symbol's C signature.
unsafe fn sym<'l, T>(lib: &'l Library, name: &str) -> Result<libloading::Symbol<'l, T>, String> {
    lib.get(name.as_bytes()).map_err(|e| format!("segtrt shim lacks `{name}`: {e}"))
}

/// Copies a C string owned by the shim (NULL becomes "").
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
pub unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

pub fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("tensor name `{s}` contains a NUL byte"))
}
