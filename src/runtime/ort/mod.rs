//! ONNX Runtime backend (ort 2.0.0-rc.10, `load-dynamic`, ONNX Runtime 1.22).
pub mod decoder;
mod device;
pub mod encoder;
pub mod library;
pub mod session;
pub mod text;

pub use decoder::OrtDecoder;
pub use encoder::OrtEncoder;
pub use text::TextEncoder;

use crate::bundle::Bundle;
use crate::runtime::{Backend, EngineOptions, Engines, RuntimeError};

/// Opens bundles on ONNX Runtime with one execution provider.
pub struct OrtBackend {
    options: EngineOptions,
}

impl OrtBackend {
    pub fn new(options: impl Into<EngineOptions>) -> Self {
        OrtBackend { options: options.into() }
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn open(&self, bundle: &Bundle) -> Result<Engines, RuntimeError> {
        let encoder = OrtEncoder::open(bundle, self.options)?;
        let decoder = OrtDecoder::open(bundle, self.options, encoder.device_features())?;
        // Opened only when a name needs embedding (segmenter), but a broken file fails at load.
        session::validate_only(bundle, "text_encoder")?;
        if !self.options.prompt_decoder {
            // Not run (turned off), but checked like the others.
            session::validate_only(bundle, crate::bundle::manifest::PROMPT_DECODER)?;
        }
        Ok(Engines { encoder: Box::new(encoder), decoder: Box::new(decoder) })
    }
}
