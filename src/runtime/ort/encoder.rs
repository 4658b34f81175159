//! The image encoder on ONNX Runtime.
//!
//! All shapes are static (contract v1), so the input and the four outputs are allocated
//! once and bound with an `IoBinding`. On the CPU a frame costs one copy in (the
//! preprocessed image) and one copy out per feature map, and no allocation. On a GPU
//! provider the outputs stay in device memory for the decoder (`device.rs`) and the input
//! can be the GPU preprocessing's device buffer ([`ImageEncoder::encode_device`]).
use ort::io_binding::IoBinding;
use ort::memory::Allocator;
use ort::session::Session;
use ort::value::Tensor as OrtTensor;

use super::device::{EncoderDevice, SharedFeatures};
use crate::bundle::Bundle;
use crate::model::{DeviceImage, Features, ImageEncoder, ModelError};
use crate::runtime::{EngineOptions, Provider, RuntimeError};
use crate::tensor::Tensor;

pub struct OrtEncoder {
    session: Session,
    binding: IoBinding,
    input: OrtTensor<f32>,
    input_shape: [usize; 4],
    /// Output names and [1, C, h, w] shapes in `Features::outputs_mut` order (the optional
    /// class_feat last).
    outputs: Vec<(&'static str, [usize; 4])>,
    /// Set on a GPU provider: the outputs live in device memory.
    device: Option<EncoderDevice>,
}

fn backend(what: &str, e: ort::Error) -> ModelError {
    ModelError::Backend(format!("image encoder: {what}: {e}"))
}

impl OrtEncoder {
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>) -> Result<OrtEncoder, RuntimeError> {
        let options = options.into();
        let session = super::session::open_validated(bundle, "image_encoder", options)?;
        let m = &bundle.manifest;
        let (w, h) = (m.input.width, m.input.height);
        let init = |e: ort::Error| RuntimeError::Session(format!("image encoder: preparing buffers: {e}"));
        let input_shape = [1, 3, h, w];
        let input = OrtTensor::<f32>::new(&Allocator::default(), input_shape).map_err(init)?;
        let mut binding = session.create_binding().map_err(init)?;
        let outputs: Vec<(&'static str, [usize; 4])> =
            m.features().into_iter().map(|(name, s)| (name, [1, m.model.feature_channels(name), h / s as usize, w / s as usize])).collect();
        let device = match options.provider {
            Provider::Cpu => {
                for &(name, shape) in &outputs {
                    binding.bind_output(name, OrtTensor::<f32>::new(&Allocator::default(), shape).map_err(init)?).map_err(init)?;
                }
                None
            }
            _ => Some(EncoderDevice::bind(&session, &mut binding, &outputs).map_err(RuntimeError::Session)?),
        };
        Ok(OrtEncoder { session, binding, input, input_shape, outputs, device })
    }

    /// The device feature store the decoder reads (GPU providers).
    pub fn device_features(&self) -> Option<SharedFeatures> {
        self.device.as_ref().map(|d| d.store.clone())
    }

    fn check(&self, shape: &[usize]) -> Result<(), ModelError> {
        if shape != self.input_shape {
            return Err(ModelError::Input(format!("image encoder expects {:?}, got {shape:?}", self.input_shape)));
        }
        Ok(())
    }

    /// Runs with the bound input; host outputs are copied into `out`, device outputs are
    /// kept for the decoder (only feat_s8 comes down).
    fn run(&mut self, out: &mut Features) -> Result<(), ModelError> {
        let mut outputs = self.session.run_binding(&self.binding).map_err(|e| backend("run", e))?;
        let n = self.outputs.len();
        let Some(device) = self.device.as_mut() else {
            for (&(name, _), dst) in self.outputs.iter().zip(out.outputs_mut(n)) {
                let value = outputs.get(name).ok_or_else(|| ModelError::Backend(format!("image encoder: no output {name}")))?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| backend(name, e))?;
                // Features drop the batch axis: [1, C, h, w] -> [C, h, w].
                let dims: Vec<usize> = shape.iter().skip(1).map(|&d| d as usize).collect();
                if dst.shape != dims {
                    dst.resize(&dims);
                }
                dst.data.copy_from_slice(data);
            }
            out.device = None;
            return Ok(());
        };
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

impl ImageEncoder for OrtEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        self.input.extract_tensor_mut().1.copy_from_slice(&image.data);
        self.binding.bind_input("image", &self.input).map_err(|e| backend("binding the image", e))?;
        self.run(out)
    }

    fn takes_device_input(&self) -> bool {
        self.device.is_some()
    }

    fn encode_device(&mut self, image: &DeviceImage, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        let Some(device) = self.device.as_mut() else { return Err(ModelError::Input("the CPU provider takes host images".into())) };
        device.bind_image(&mut self.binding, image)?;
        self.run(out)
    }
}
