//! One TensorRT engine (a deserialised plan + execution context) with its device buffers.
//!
//! STATUS: COMPILED, NOT RUN. No GPU exists on the machines this project is built on; this
//! code has been type-checked and its shim compiled against the TensorRT 10.3 headers, but
//! it has never executed. Host tensors go in, host tensors come out: each call copies the
//! inputs to device buffers that are kept and grown, never shrunk (no allocation once warm).
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::path::Path;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};

use super::ffi::{self, RawEngine, Shim, MAX_DIMS};
use crate::tensor::Tensor;

/// TensorRT's DataType::kFLOAT.
const TRT_FLOAT: i32 = 0;

pub struct TrtEngine {
    shim: Arc<Shim>,
    raw: *mut RawEngine,
    stream: Arc<CudaStream>,
    names: HashMap<String, CString>,
    buffers: HashMap<String, CudaSlice<f32>>,
}

// SAFETY: an engine is only used from one thread at a time (&mut self on every call that
// touches the context), which is what TensorRT requires of an execution context.
unsafe impl Send for TrtEngine {}

impl Drop for TrtEngine {
    fn drop(&mut self) {
        // SAFETY: `raw` came from segtrt_load and is freed exactly once.
        unsafe { (self.shim.free)(self.raw) }
    }
}

fn driver(e: impl std::fmt::Debug) -> String {
    format!("CUDA driver: {e:?}")
}

impl TrtEngine {
    pub fn load(shim: Arc<Shim>, plan: &Path, stream: Arc<CudaStream>) -> Result<TrtEngine, String> {
        let path = ffi::cstring(&plan.to_string_lossy())?;
        let mut err = vec![0 as std::ffi::c_char; 1024];
        // SAFETY: path is NUL-terminated, err has the length we pass.
        let raw = unsafe { (shim.load)(path.as_ptr(), err.as_mut_ptr(), err.len()) };
        if raw.is_null() {
            // SAFETY: the shim always NUL-terminates err.
            return Err(unsafe { ffi::string(err.as_ptr()) });
        }
        let mut engine = TrtEngine { shim, raw, stream, names: HashMap::new(), buffers: HashMap::new() };
        for (name, _) in engine.io()? {
            if engine.dtype(&name)? != TRT_FLOAT {
                return Err(format!("{}: tensor `{name}` is not f32", plan.display()));
            }
        }
        Ok(engine)
    }

    /// (name, is_input) of every I/O tensor, in engine order.
    pub fn io(&mut self) -> Result<Vec<(String, bool)>, String> {
        // SAFETY: raw is a live engine; returned names live as long as it does.
        let n = unsafe { (self.shim.num_io)(self.raw) };
        (0..n)
            .map(|i| {
                let name = unsafe { ffi::string((self.shim.io_name)(self.raw, i)) };
                let c = self.cname(&name)?;
                let input = unsafe { (self.shim.io_is_input)(self.raw, c.as_ptr()) } == 1;
                Ok((name, input))
            })
            .collect()
    }

    fn dtype(&mut self, name: &str) -> Result<i32, String> {
        let c = self.cname(name)?;
        // SAFETY: live engine, NUL-terminated name.
        Ok(unsafe { (self.shim.io_dtype)(self.raw, c.as_ptr()) })
    }

    fn cname(&mut self, name: &str) -> Result<CString, String> {
        if let Some(c) = self.names.get(name) {
            return Ok(c.clone());
        }
        let c = ffi::cstring(name)?;
        self.names.insert(name.to_string(), c.clone());
        Ok(c)
    }

    fn error(&self, what: &str) -> String {
        // SAFETY: live engine; the message is copied before the next call.
        format!("{what}: {}", unsafe { ffi::string((self.shim.last_error)(self.raw)) })
    }

    /// A device buffer of at least `len` floats for `name`, bound to that tensor.
    fn bind(&mut self, name: &str, len: usize) -> Result<(), String> {
        let grow = self.buffers.get(name).is_none_or(|b| b.len() < len);
        if grow {
            let buf = self.stream.alloc_zeros::<f32>(len.max(1)).map_err(driver)?;
            self.buffers.insert(name.to_string(), buf);
        }
        let c = self.cname(name)?;
        let buf = &self.buffers[name];
        let (ptr, _sync) = buf.device_ptr(&self.stream);
        // SAFETY: ptr is a live device allocation of at least `len` floats.
        let rc = unsafe { (self.shim.set_address)(self.raw, c.as_ptr(), ptr as usize as *mut c_void) };
        if rc != 0 {
            return Err(self.error(&format!("binding `{name}`")));
        }
        Ok(())
    }

    fn set_shape(&mut self, name: &str, shape: &[usize]) -> Result<(), String> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let c = self.cname(name)?;
        // SAFETY: dims has `rank` entries; live engine.
        let rc = unsafe { (self.shim.set_input_shape)(self.raw, c.as_ptr(), dims.as_ptr(), dims.len() as i32) };
        if rc != 0 {
            return Err(self.error(&format!("input `{name}` shape {shape:?}")));
        }
        Ok(())
    }

    fn shape(&mut self, name: &str) -> Result<Vec<usize>, String> {
        let c = self.cname(name)?;
        let mut dims = [0i64; MAX_DIMS];
        // SAFETY: dims has MAX_DIMS entries, the capacity we pass.
        let rank = unsafe { (self.shim.tensor_shape)(self.raw, c.as_ptr(), dims.as_mut_ptr(), MAX_DIMS as i32) };
        if rank < 0 || dims[..rank as usize].iter().any(|&d| d < 0) {
            return Err(format!("output `{name}` has no resolved shape"));
        }
        Ok(dims[..rank as usize].iter().map(|&d| d as usize).collect())
    }

    /// Runs the engine: `inputs` are (name, shape, data); each output tensor is resized to
    /// the engine's shape (minus `drop_leading` axes) and filled.
    pub fn run(
        &mut self,
        inputs: &[(&str, &[usize], &[f32])],
        outputs: &mut [(&str, &mut Tensor)],
        drop_leading: usize,
    ) -> Result<(), String> {
        for &(name, shape, data) in inputs {
            self.set_shape(name, shape)?;
            self.bind(name, data.len())?;
            let buf = self.buffers.get_mut(name).expect("bound above");
            let mut view = buf.slice_mut(0..data.len());
            self.stream.memcpy_htod(data, &mut view).map_err(driver)?;
        }
        let mut shapes = Vec::with_capacity(outputs.len());
        for (name, _) in outputs.iter() {
            let shape = self.shape(name)?;
            self.bind(name, shape.iter().product())?;
            shapes.push(shape);
        }
        // SAFETY: every I/O tensor is bound to a live buffer of sufficient size.
        let rc = unsafe { (self.shim.enqueue)(self.raw, self.stream.cu_stream() as *mut c_void) };
        if rc != 0 {
            return Err(self.error("enqueue"));
        }
        for ((name, dst), shape) in outputs.iter_mut().zip(shapes) {
            dst.resize(&shape[drop_leading.min(shape.len())..]);
            let n = dst.data.len();
            let buf = &self.buffers[*name];
            self.stream.memcpy_dtoh(&buf.slice(0..n), &mut dst.data[..]).map_err(driver)?;
        }
        self.stream.synchronize().map_err(driver)
    }
}
