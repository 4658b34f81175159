//! ONNX Runtime on a GPU provider with the encoder's outputs kept in device memory
//! (COMPILED, NOT RUN: no GPU here).
//!
//! The encoder binds its outputs to CUDA tensors allocated once by the session's CUDA
//! allocator; after each run the values go into a store shared with the decoder, which binds
//! them as its inputs (same device: no copy). Only `feat_s8` comes down (the tracker's
//! visual sampler reads it on the host), through a pinned buffer with the CUDA driver.
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaStream};
use ort::io_binding::IoBinding;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{DynValue, Tensor as OrtTensor, TensorRefMut};

use crate::kernels::cuda::staging::{download, Direction, Pinned};
use crate::model::{DeviceImage, DeviceTag, ModelError};

pub type SharedFeatures = Arc<Mutex<FeatureStore>>;

/// The latest encoder run's outputs, in device memory.
pub struct FeatureStore {
    id: u64,
    generation: u64,
    /// In `Features` order; clones of the encoder binding's values (same memory).
    pub values: Vec<DynValue>,
    /// Declared last: the values above are freed with it, so it must outlive them.
    _allocator: Allocator,
}

impl FeatureStore {
    pub fn tag(&self) -> DeviceTag {
        DeviceTag { store: self.id, generation: self.generation }
    }
}

pub fn lock(store: &SharedFeatures) -> std::sync::MutexGuard<'_, FeatureStore> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

fn cuda_info() -> ort::Result<MemoryInfo> {
    MemoryInfo::new(AllocationDevice::CUDA, 0, AllocatorType::Device, MemoryType::Default)
}

/// The encoder's device side.
pub struct EncoderDevice {
    pub store: SharedFeatures,
    /// Device address and element count of feat_s8 (bound once: the address never changes).
    s8: (u64, usize),
    stream: Arc<CudaStream>,
    s8_down: Pinned<f32>,
    /// The last device image bound as input (rebuilt only when its address changes).
    image: Option<(u64, TensorRefMut<'static, f32>)>,
}

impl EncoderDevice {
    /// Allocates the outputs on the device and binds them. `outputs`: (name, shape) in
    /// `Features` order.
    pub fn bind(session: &Session, binding: &mut IoBinding, outputs: &[(&'static str, [usize; 4])]) -> Result<EncoderDevice, String> {
        let e = |what: &str, e: &dyn std::fmt::Debug| format!("image encoder on the device: {what}: {e:?}");
        let cuda = cuda_info().map_err(|x| e("CUDA memory info", &x))?;
        let allocator = Allocator::new(session, cuda).map_err(|x| e("CUDA allocator", &x))?;
        let mut s8 = (0, 0);
        for &(name, shape) in outputs {
            let t = OrtTensor::<f32>::new(&allocator, shape).map_err(|x| e(name, &x))?;
            if name == "feat_s8" {
                s8 = (t.data_ptr() as u64, shape.iter().product());
            }
            binding.bind_output(name, t).map_err(|x| e(name, &x))?;
        }
        let ctx = CudaContext::new(0).map_err(|x| e("CUDA device 0", &x))?;
        let stream = ctx.new_stream().map_err(|x| e("CUDA stream", &x))?;
        let store = FeatureStore { id: DeviceTag::new_store(), generation: 0, values: Vec::new(), _allocator: allocator };
        Ok(EncoderDevice { store: Arc::new(Mutex::new(store)), s8, stream, s8_down: Pinned::new(Direction::Down), image: None })
    }

    /// Binds a device image as the input, after the stream that wrote it has finished.
    pub fn bind_image(&mut self, binding: &mut IoBinding, image: &DeviceImage) -> Result<(), ModelError> {
        let fail = |e: &dyn std::fmt::Display| ModelError::Backend(format!("image encoder: device input: {e}"));
        image.stream.synchronize().map_err(|e| fail(&format!("{e:?}")))?;
        if self.image.as_ref().is_none_or(|(p, _)| *p != image.ptr) {
            // SAFETY: `ptr` is the preprocessing output, 3*H*W floats on device 0, kept
            // between frames by GpuKernels (same address until a new size reallocates it,
            // which gives a new address and a new value here).
            // (MemoryInfo is not Send, so it is made here, not kept.)
            let cuda = cuda_info().map_err(|e| fail(&e))?;
            let value =
                unsafe { TensorRefMut::from_raw(cuda, image.ptr as usize as *mut _, image.shape.to_vec().into()) }.map_err(|e| fail(&e))?;
            self.image = Some((image.ptr, value));
        }
        let (_, value) = self.image.as_ref().expect("set above");
        binding.bind_input("image", value).map_err(|e| fail(&e))
    }

    /// After a run: keeps the outputs for the decoder, brings feat_s8 down into `s8`, and
    /// returns the run's tag.
    pub fn finish(&mut self, values: Vec<DynValue>, s8: &mut [f32]) -> Result<DeviceTag, ModelError> {
        if s8.len() != self.s8.1 {
            return Err(ModelError::Backend(format!("image encoder: feat_s8 has {} values, expected {}", self.s8.1, s8.len())));
        }
        download(&self.stream, &mut self.s8_down, self.s8.0, s8)
            .map_err(|e| ModelError::Backend(format!("image encoder: feat_s8: {e}")))?;
        let mut store = lock(&self.store);
        store.values = values;
        store.generation += 1;
        Ok(store.tag())
    }
}

/// The decoder's device side: a binding whose feature inputs are the store's values.
pub struct DecoderDevice {
    pub store: SharedFeatures,
    pub binding: IoBinding,
}

impl DecoderDevice {
    /// Binds every output to host memory (the tracker reads them all on the host).
    pub fn new(session: &Session, store: SharedFeatures, outputs: &[String]) -> Result<DecoderDevice, String> {
        let e = |what: &str, e: &dyn std::fmt::Debug| format!("mask decoder on the device: {what}: {e:?}");
        let mut binding = session.create_binding().map_err(|x| e("binding", &x))?;
        let cpu = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default).map_err(|x| e("CPU memory", &x))?;
        for name in outputs {
            binding.bind_output_to_device(name.as_str(), &cpu).map_err(|x| e(name, &x))?;
        }
        Ok(DecoderDevice { store, binding })
    }
}
