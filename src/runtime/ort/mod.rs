//! ONNX Runtime backend (ort 2.0.0-rc.10, `load-dynamic`, ONNX Runtime 1.22).
pub mod decoder;
mod device;
pub mod encoder;
pub mod library;
pub mod session;
pub mod shared;
pub mod text;

pub use decoder::OrtDecoder;
pub use encoder::OrtEncoder;
pub use text::TextEncoder;

use crate::bundle::Bundle;
use crate::runtime::{Backend, EngineOptions, EngineShare, Engines, Provider, RuntimeError};

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

    /// On the CPU the sessions are the process's shared ones for this bundle and options
    /// (`shared.rs`: loaded once, whatever the number of streams); a GPU provider opens
    /// sessions of its own, since their outputs live in this stream's device buffers.
    fn open(&self, bundle: &Bundle) -> Result<Engines, RuntimeError> {
        if self.options.provider == Provider::Cpu {
            let engine = shared::cpu_engine(bundle, self.options)?;
            let encoder = OrtEncoder::on_cpu(bundle, engine.encoder.clone())?;
            let decoder = OrtDecoder::on_cpu(bundle, &engine);
            return Ok(Engines { encoder: Box::new(encoder), decoder: Box::new(decoder), share: Some(EngineShare::new(engine)) });
        }
        let encoder = OrtEncoder::open(bundle, self.options)?;
        let decoder = OrtDecoder::open(bundle, self.options, encoder.device_features())?;
        // Opened only when a name needs embedding (segmenter), but a broken file fails at load.
        session::validate_only(bundle, "text_encoder")?;
        if !self.options.prompt_decoder {
            // Not run (turned off), but checked like the others.
            session::validate_only(bundle, crate::bundle::manifest::PROMPT_DECODER)?;
        }
        Ok(Engines { encoder: Box::new(encoder), decoder: Box::new(decoder), share: None })
    }
}
