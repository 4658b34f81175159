//! The image encoder on ONNX Runtime.
//!
//! All shapes are static (contract v1), so the input and the four outputs are allocated
//! once per stream. On the CPU the session is the process's shared one (`shared.rs`) and
//! ONNX Runtime writes into this stream's output tensors: a frame costs one copy in (the
//! preprocessed image) and one copy out per feature map, and no allocation. On a GPU
//! provider the session is the stream's own, its outputs stay in device memory for the
//! decoder (`device.rs`, bound with an `IoBinding`) and the input can be the GPU
//! preprocessing's device buffer ([`ImageEncoder::encode_device`]).
use std::ffi::{CStr, CString};
use std::sync::Arc;

use ort::io_binding::IoBinding;
use ort::memory::Allocator;
use ort::session::Session;
use ort::value::Tensor as OrtTensor;

use super::device::{EncoderDevice, SharedFeatures};
use super::shared::{self, CpuSession, Output};
use crate::bundle::Bundle;
use crate::model::{DeviceImage, Features, ImageEncoder, ModelError};
use crate::runtime::{EngineOptions, Provider, RuntimeError};
use crate::tensor::Tensor;

pub struct OrtEncoder {
    engine: Engine,
    input: OrtTensor<f32>,
    input_shape: [usize; 4],
    /// Output names and [1, C, h, w] shapes in `Features::outputs_mut` order (the optional
    /// class_feat last).
    outputs: Vec<(&'static str, [usize; 4])>,
}

enum Engine {
    /// CPU provider: the process's shared session (`shared.rs`) and this stream's own
    /// output tensors, which ONNX Runtime writes into (one copy out per feature map).
    Cpu { session: Arc<CpuSession>, names: Vec<CString>, values: Vec<OrtTensor<f32>> },
    /// GPU provider: an owned session whose outputs stay bound in device memory.
    Device { session: Session, binding: IoBinding, device: EncoderDevice },
}

const INPUT: &CStr = c"image";

fn backend(what: &str, e: ort::Error) -> ModelError {
    ModelError::Backend(format!("image encoder: {what}: {e}"))
}

fn init(e: ort::Error) -> RuntimeError {
    RuntimeError::Session(format!("image encoder: preparing buffers: {e}"))
}

impl OrtEncoder {
    /// Opens the encoder: on the CPU the process's shared session for this bundle (loaded
    /// now if no stream uses it), on a GPU provider a session of its own.
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>) -> Result<OrtEncoder, RuntimeError> {
        let options = options.into();
        match options.provider {
            Provider::Cpu => OrtEncoder::on_cpu(bundle, shared::cpu_engine(bundle, options)?.encoder.clone()),
            _ => OrtEncoder::on_device(bundle, options),
        }
    }

    /// This stream's encoder on a shared CPU session (`shared::cpu_engine`).
    pub fn on_cpu(bundle: &Bundle, session: Arc<CpuSession>) -> Result<OrtEncoder, RuntimeError> {
        let (input_shape, outputs) = shapes(bundle);
        let mut names = Vec::with_capacity(outputs.len());
        let mut values = Vec::with_capacity(outputs.len());
        for &(name, shape) in &outputs {
            names.push(CString::new(name).expect("no NUL in a feature name"));
            values.push(OrtTensor::<f32>::new(&Allocator::default(), shape).map_err(init)?);
        }
        let input = OrtTensor::<f32>::new(&Allocator::default(), input_shape).map_err(init)?;
        Ok(OrtEncoder { engine: Engine::Cpu { session, names, values }, input, input_shape, outputs })
    }

    fn on_device(bundle: &Bundle, options: EngineOptions) -> Result<OrtEncoder, RuntimeError> {
        let session = super::session::open_validated(bundle, "image_encoder", options)?;
        let (input_shape, outputs) = shapes(bundle);
        let input = OrtTensor::<f32>::new(&Allocator::default(), input_shape).map_err(init)?;
        let mut binding = session.create_binding().map_err(init)?;
        let device = EncoderDevice::bind(&session, &mut binding, &outputs).map_err(RuntimeError::Session)?;
        Ok(OrtEncoder { engine: Engine::Device { session, binding, device }, input, input_shape, outputs })
    }

    /// The device feature store the decoder reads (GPU providers).
    pub fn device_features(&self) -> Option<SharedFeatures> {
        match &self.engine {
            Engine::Device { device, .. } => Some(device.store.clone()),
            Engine::Cpu { .. } => None,
        }
    }

    fn check(&self, shape: &[usize]) -> Result<(), ModelError> {
        if shape != self.input_shape {
            return Err(ModelError::Input(format!("image encoder expects {:?}, got {shape:?}", self.input_shape)));
        }
        Ok(())
    }

    /// Runs on the host input and copies each feature map into `out`.
    fn run_cpu(&mut self, out: &mut Features) -> Result<(), ModelError> {
        let Engine::Cpu { session, names, values } = &mut self.engine else { unreachable!("CPU path only") };
        let mut outputs: Vec<(&CStr, Output)> = names.iter().zip(values.iter_mut()).map(|(n, v)| (n.as_c_str(), Output::Into(v))).collect();
        session.run(&[(INPUT, &self.input)], &mut outputs).map_err(|e| backend("run", e))?;
        drop(outputs);
        let n = self.outputs.len();
        // The tensors have the declared shapes (ONNX Runtime fails a run whose output does
        // not fit them). Features drop the batch axis: [1, C, h, w] -> [C, h, w].
        for ((value, (_, shape)), dst) in values.iter().zip(&self.outputs).zip(out.outputs_mut(n)) {
            if dst.shape[..] != shape[1..] {
                dst.resize(&shape[1..]);
            }
            dst.data.copy_from_slice(value.extract_tensor().1);
        }
        out.device = None;
        Ok(())
    }

    /// Runs with the bound input; device outputs are kept for the decoder (only feat_s8
    /// comes down).
    fn run_device(&mut self, out: &mut Features) -> Result<(), ModelError> {
        let Engine::Device { session, binding, device } = &mut self.engine else { unreachable!("device path only") };
        let mut outputs = session.run_binding(binding).map_err(|e| backend("run", e))?;
        let n = self.outputs.len();
        let mut values = Vec::with_capacity(n);
        for &(name, _) in &self.outputs {
            values.push(outputs.remove(name).ok_or_else(|| ModelError::Backend(format!("image encoder: no output {name}")))?);
        }
        for (&(name, shape), dst) in self.outputs.iter().zip(out.outputs_mut(n)) {
            if name == "feat_s8" {
                dst.resize(&shape[1..]);
            } else {
                // Shape only: the data stays on the device (see `Features::device`).
                dst.shape.clear();
                dst.shape.extend_from_slice(&shape[1..]);
                dst.data.clear();
            }
        }
        out.device = Some(device.finish(values, &mut out.s8.data)?);
        Ok(())
    }
}

/// The input shape and the outputs' names and shapes, from the manifest.
fn shapes(bundle: &Bundle) -> ([usize; 4], Vec<(&'static str, [usize; 4])>) {
    let m = &bundle.manifest;
    let (w, h) = (m.input.width, m.input.height);
    let outputs =
        m.features().into_iter().map(|(name, s)| (name, [1, m.model.feature_channels(name), h / s as usize, w / s as usize])).collect();
    ([1, 3, h, w], outputs)
}

impl ImageEncoder for OrtEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        self.input.extract_tensor_mut().1.copy_from_slice(&image.data);
        match &mut self.engine {
            Engine::Cpu { .. } => self.run_cpu(out),
            Engine::Device { binding, .. } => {
                binding.bind_input("image", &self.input).map_err(|e| backend("binding the image", e))?;
                self.run_device(out)
            }
        }
    }

    fn takes_device_input(&self) -> bool {
        matches!(self.engine, Engine::Device { .. })
    }

    fn encode_device(&mut self, image: &DeviceImage, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        let Engine::Device { binding, device, .. } = &mut self.engine else {
            return Err(ModelError::Input("the CPU provider takes host images".into()));
        };
        device.bind_image(binding, image)?;
        self.run_device(out)
    }
}
