//! The image encoder on ONNX Runtime.
//!
//! All shapes are static (contract v1), so the input and the four outputs are allocated
//! once and bound with an `IoBinding`: a frame costs one copy in (the preprocessed image)
//! and one copy out per feature map, and no allocation.
use ort::io_binding::IoBinding;
use ort::memory::Allocator;
use ort::session::Session;
use ort::value::Tensor as OrtTensor;

use crate::bundle::Bundle;
use crate::model::{Features, ImageEncoder, ModelError};
use crate::runtime::{EngineOptions, RuntimeError};
use crate::tensor::Tensor;

pub struct OrtEncoder {
    session: Session,
    binding: IoBinding,
    input: OrtTensor<f32>,
    input_shape: [usize; 4],
    /// Output names in `Features::outputs_mut` order (the optional class_feat last).
    names: Vec<&'static str>,
}

fn backend(what: &str, e: ort::Error) -> ModelError {
    ModelError::Backend(format!("image encoder: {what}: {e}"))
}

impl OrtEncoder {
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>) -> Result<OrtEncoder, RuntimeError> {
        let session = super::session::open_validated(bundle, "image_encoder", options.into())?;
        let m = &bundle.manifest;
        let (w, h) = (m.input.width, m.input.height);
        let init = |e: ort::Error| RuntimeError::Session(format!("image encoder: preparing buffers: {e}"));
        let input_shape = [1, 3, h, w];
        let input = OrtTensor::<f32>::new(&Allocator::default(), input_shape).map_err(init)?;
        let mut binding = session.create_binding().map_err(init)?;
        let features = m.features();
        for &(name, stride) in &features {
            let s = stride as usize;
            let c = m.model.feature_channels(name);
            let out = OrtTensor::<f32>::new(&Allocator::default(), [1, c, h / s, w / s]).map_err(init)?;
            binding.bind_output(name, out).map_err(init)?;
        }
        let names = features.iter().map(|f| f.0).collect();
        Ok(OrtEncoder { session, binding, input, input_shape, names })
    }
}

impl ImageEncoder for OrtEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError> {
        if image.shape != self.input_shape {
            return Err(ModelError::Input(format!("image encoder expects {:?}, got {:?}", self.input_shape, image.shape)));
        }
        self.input.extract_tensor_mut().1.copy_from_slice(&image.data);
        self.binding.bind_input("image", &self.input).map_err(|e| backend("binding the image", e))?;
        let outputs = self.session.run_binding(&self.binding).map_err(|e| backend("run", e))?;
        for (&name, dst) in self.names.iter().zip(out.outputs_mut(self.names.len())) {
            let value = outputs.get(name).ok_or_else(|| ModelError::Backend(format!("image encoder: no output {name}")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| backend(name, e))?;
            // Features drop the batch axis: [1, C, h, w] -> [C, h, w].
            let dims: Vec<usize> = shape.iter().skip(1).map(|&d| d as usize).collect();
            if dst.shape != dims {
                dst.resize(&dims);
            }
            dst.data.copy_from_slice(data);
        }
        Ok(())
    }
}
