//! One TensorRT engine (a deserialised plan + execution context) with its device buffers.
//!
//! STATUS: COMPILED, NOT RUN. No GPU exists on the machines this project is built on; this
//! code has been type-checked and its shim compiled against the TensorRT 10.3 headers, but
//! it has never executed. Inputs and outputs are host tensors (copied through pinned staging
//! into device buffers that are kept and grown, never shrunk: no allocation once warm) or
//! device addresses bound as they are (the encoder's image and features: see `features.rs`).
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::path::Path;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};

use super::ffi::{self, RawEngine, Shim, MAX_DIMS};
use crate::kernels::cuda::staging::{Direction, Pinned};
use crate::tensor::Tensor;

/// TensorRT's DataType::kFLOAT.
const TRT_FLOAT: i32 = 0;

pub struct TrtEngine {
    shim: Arc<Shim>,
    raw: *mut RawEngine,
    stream: Arc<CudaStream>,
    names: HashMap<String, CString>,
    buffers: HashMap<String, CudaSlice<f32>>,
    /// Pinned staging of host inputs and host outputs (grown, never shrunk).
    up: Pinned<f32>,
    down: Pinned<f32>,
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
        let mut engine = TrtEngine {
            shim,
            raw,
            stream,
            names: HashMap::new(),
            buffers: HashMap::new(),
            up: Pinned::new(Direction::Up),
            down: Pinned::new(Direction::Down),
        };
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

    /// Runs the engine. `inputs` are (name, shape, source); each output goes where its
    /// [`Dst`] says: host tensors are resized to the engine's shape (minus `drop_leading`
    /// axes) and filled. Host data travels through pinned staging buffers of the engine's
    /// own; device addresses are bound as they are, with no copy.
    pub fn run(&mut self, inputs: &[(&str, &[usize], Src)], outputs: &mut [(&str, Dst)], drop_leading: usize) -> Result<(), String> {
        for &(name, shape, ref src) in inputs {
            self.set_shape(name, shape)?;
            match *src {
                Src::Device(ptr) => self.bind_address(name, ptr)?,
                Src::Host(data) => self.bind(name, data.len())?,
            }
        }
        let ctx = self.stream.context().clone();
        let host_in: usize = inputs.iter().map(|(_, _, s)| if let Src::Host(d) = s { d.len() } else { 0 }).sum();
        let staged = self.up.get(&ctx, host_in).map_err(|e| e.to_string())?;
        let mut at = 0;
        for &(name, _, ref src) in inputs {
            if let Src::Host(data) = *src {
                let n = data.len();
                staged[at..at + n].copy_from_slice(data);
                let buf = self.buffers.get_mut(name).expect("bound above");
                self.stream.memcpy_htod(&staged[at..at + n], &mut buf.slice_mut(0..n)).map_err(driver)?;
                at += n;
            }
        }
        let mut shapes = Vec::with_capacity(outputs.len());
        for (name, dst) in outputs.iter() {
            let shape = self.shape(name)?;
            match dst.device() {
                Some(ptr) => self.bind_address(name, ptr)?,
                None => self.bind(name, shape.iter().product())?,
            }
            shapes.push(shape);
        }
        // SAFETY: every I/O tensor is bound to a live buffer of sufficient size.
        let rc = unsafe { (self.shim.enqueue)(self.raw, self.stream.cu_stream() as *mut c_void) };
        if rc != 0 {
            return Err(self.error("enqueue"));
        }
        let host_out: usize =
            shapes.iter().zip(outputs.iter()).filter(|(_, (_, d))| d.is_host()).map(|(s, _)| s.iter().product::<usize>()).sum();
        let down = self.down.get(&ctx, host_out).map_err(|e| e.to_string())?;
        let mut at = 0;
        for ((name, dst), shape) in outputs.iter().zip(&shapes) {
            if !dst.is_host() {
                continue;
            }
            let n: usize = shape.iter().product();
            let src = match dst.device() {
                Some(ptr) => ptr,
                None => self.buffers[*name].device_ptr(&self.stream).0,
            };
            // SAFETY: `src` holds the output's n floats; `down` is untouched until the sync.
            unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut down[at..at + n], src, self.stream.cu_stream()) }.map_err(driver)?;
            at += n;
        }
        self.stream.synchronize().map_err(driver)?;
        let mut at = 0;
        for ((_, dst), shape) in outputs.iter_mut().zip(shapes) {
            if let Some(t) = dst.host() {
                t.resize(&shape[drop_leading.min(shape.len())..]);
                let n = t.data.len();
                t.data.copy_from_slice(&down[at..at + n]);
                at += n;
            }
        }
        Ok(())
    }

    /// Makes this engine's stream wait for the work queued so far on `other` (no host wait).
    pub fn wait_for(&self, other: &CudaStream) -> Result<(), String> {
        self.stream.join(other).map_err(driver)
    }

    /// The engine's stream (encoder and decoder of one backend share it).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    fn bind_address(&mut self, name: &str, ptr: u64) -> Result<(), String> {
        let c = self.cname(name)?;
        // SAFETY: the caller's device address is live and sized for this tensor.
        let rc = unsafe { (self.shim.set_address)(self.raw, c.as_ptr(), ptr as usize as *mut c_void) };
        if rc != 0 {
            return Err(self.error(&format!("binding `{name}`")));
        }
        Ok(())
    }
}

/// Where an input comes from.
pub enum Src<'a> {
    /// Host floats, copied up through pinned staging.
    Host(&'a [f32]),
    /// A device address, bound as it is.
    Device(u64),
}

/// Where an output goes.
pub enum Dst<'a> {
    /// Into a host tensor, through pinned staging.
    Host(&'a mut Tensor),
    /// Stays at this device address.
    Device(u64),
    /// Stays at this device address, and a copy comes down into the host tensor.
    DeviceAndHost(u64, &'a mut Tensor),
}

impl Dst<'_> {
    fn device(&self) -> Option<u64> {
        match self {
            Dst::Device(p) | Dst::DeviceAndHost(p, _) => Some(*p),
            Dst::Host(_) => None,
        }
    }

    fn is_host(&self) -> bool {
        !matches!(self, Dst::Device(_))
    }

    fn host(&mut self) -> Option<&mut Tensor> {
        match self {
            Dst::Host(t) | Dst::DeviceAndHost(_, t) => Some(t),
            Dst::Device(_) => None,
        }
    }
}
