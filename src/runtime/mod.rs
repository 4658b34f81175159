//! Inference backends behind one trait.
//!
//! The tracker and the segmenter only see [`crate::model::ImageEncoder`] and
//! [`crate::model::MaskDecoder`]; a [`Backend`] opens both from a [`Bundle`], checking the
//! bundle's manifest against the model files on the way. Two backends: ONNX Runtime
//! ([`ort`]; CPU, and CUDA / TensorRT as its execution providers) and native TensorRT 10
//! ([`tensorrt`], plan files through our C shim; compiled, not run).
pub mod ort;
pub mod tensorrt;

use std::any::Any;
use std::sync::{Arc, Weak};

use crate::bundle::{Bundle, BundleError};
use crate::model::{ImageEncoder, MaskDecoder};

/// Execution provider (the `provider` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    Cpu,
    Cuda,
    /// ONNX Runtime's TensorRT execution provider (needs an onnxruntime-gpu build with it).
    TensorRt,
    /// TensorRT 10 directly: plans built on the device, run through the segtrt shim.
    TensorRtNative,
}

impl std::str::FromStr for Provider {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, RuntimeError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "cpu" => Ok(Provider::Cpu),
            "cuda" => Ok(Provider::Cuda),
            "tensorrt" | "trt" => Ok(Provider::TensorRt),
            "tensorrt-native" => Ok(Provider::TensorRtNative),
            other => Err(RuntimeError::Provider(format!("unknown provider `{other}` (expected cpu, cuda, tensorrt or tensorrt-native)"))),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::TensorRtNative => "tensorrt-native",
        })
    }
}

/// Why a backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Library(String),
    #[error("{0}")]
    Provider(String),
    #[error("{0}")]
    Session(String),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// CPU threads of one ONNX Runtime session (its intra-op pool).
///
/// Default: one thread without spinning, so N streams use N cores (two streams of one
/// process: 1.9x one stream's frame rate). One stream uses a second core better by
/// encoding one frame ahead (`Segmenter::process_ahead`: 300 frames of `segment` in 5.6
/// instead of 10.3 s on a 2-core Xeon) than with a second intra-op thread (8.2 s: the
/// encoder runs 1.7x faster, the decoder no faster); spinning burns a core between frames
/// for no gain at video rates. Where a frame is not encoded ahead (a live camera) the
/// encoder alone can take a second thread (`encoder`): a live 640x480 30 fps source for 3
/// minutes then lost 370 and 56 instead of 1010 and 550 of about 5400 frames, p50
/// glass-to-MQTT 57.8 and 42.7 instead of 64.5 and 59.3 ms, p95 77.8 and 72.0 instead of
/// 80.7 and 75.4 ms (`benches/live_latency.py --seconds 180 [--encoder-threads 2]`, runs
/// alternated, 2-core Xeon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Threads {
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    pub intra: usize,
    /// Let idle intra-op threads spin before sleeping (ONNX Runtime's own default is on).
    pub spin: bool,
    /// Intra-op threads of the image encoder; `None`: `intra` (0: one per physical core).
    pub encoder: Option<usize>,
}

impl Threads {
    /// `intra` with `intra` threads, default otherwise.
    pub fn intra(intra: usize) -> Threads {
        Threads { intra, ..Default::default() }
    }

    /// The intra-op threads of the bundle file `key` (`[files]` key).
    pub fn for_file(&self, key: &str) -> usize {
        match (key, self.encoder) {
            ("image_encoder", Some(n)) => n,
            _ => self.intra,
        }
    }
}

/// Largest `intra` accepted: more threads than this only adds contention.
pub const MAX_INTRA_THREADS: usize = 64;

impl Default for Threads {
    fn default() -> Self {
        Threads { intra: 1, spin: false, encoder: None }
    }
}

/// How to open a bundle's engines: the provider and, for ONNX Runtime, its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    pub provider: Provider,
    pub threads: Threads,
    /// Run the bundle's prompt-only decoder (`[files] prompt_decoder`), when it has one, on
    /// frames without detection (default). Off: every frame runs the full decoder (same
    /// output; for comparisons). ONNX Runtime only: the native TensorRT backend always
    /// runs the full decoder's plan.
    pub prompt_decoder: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { provider: Provider::default(), threads: Threads::default(), prompt_decoder: true }
    }
}

impl From<Provider> for EngineOptions {
    fn from(provider: Provider) -> Self {
        EngineOptions { provider, ..Default::default() }
    }
}

/// The two engines of a bundle, ready to run. `Send` so a GStreamer element can own them.
/// The decoder covers the bundle's optional prompt-only decoder too (see
/// [`MaskDecoder::prompt_only`]).
pub struct Engines {
    pub encoder: Box<dyn ImageEncoder + Send>,
    pub decoder: Box<dyn MaskDecoder + Send>,
    /// Set when the loaded model is shared with other streams of the process (CPU
    /// provider, `ort::shared`); `None`: these engines are this stream's own.
    pub share: Option<EngineShare>,
}

impl Engines {
    /// How many streams (holders of [`Engines`]) use this loaded model, this one included.
    pub fn users(&self) -> usize {
        self.share.as_ref().map_or(1, EngineShare::users)
    }

    /// Whether these engines run on the process's shared loaded model (CPU provider), which
    /// other streams with the same bundle and options use too; false: this stream's own.
    pub fn is_shared(&self) -> bool {
        self.share.is_some()
    }
}

/// One stream's hold on a loaded model other streams may use too: the model stays loaded
/// while a share exists, and the number of shares is the number of streams using it.
pub struct EngineShare(Arc<dyn Any + Send + Sync>);

impl EngineShare {
    pub fn new<T: Any + Send + Sync>(engine: Arc<T>) -> Self {
        EngineShare(engine)
    }

    /// Streams holding a share of this model now.
    pub fn users(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Counts the users without being one (for a property read from another thread).
    pub fn watch(&self) -> EngineWatch {
        EngineWatch(Arc::downgrade(&self.0))
    }

    /// Whether `other` holds the very same loaded model (same allocation).
    pub fn same_engine(&self, other: &EngineShare) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Reads the user count of a shared model without keeping it loaded.
#[derive(Clone)]
pub struct EngineWatch(Weak<dyn Any + Send + Sync>);

impl EngineWatch {
    /// Streams using the model now; 0 once the last one dropped it.
    pub fn users(&self) -> usize {
        self.0.strong_count()
    }

    /// Whether the model is still loaded (a user holds it).
    pub fn is_loaded(&self) -> bool {
        self.0.upgrade().is_some()
    }

    /// Whether both watch the very same loaded model (same allocation, loaded or not).
    pub fn same_engine(&self, other: &EngineWatch) -> bool {
        Weak::ptr_eq(&self.0, &other.0)
    }
}

/// Something that turns a bundle into runnable engines.
pub trait Backend {
    fn name(&self) -> &'static str;
    /// Opens (and validates against the manifest) the encoder and decoder of `bundle`.
    fn open(&self, bundle: &Bundle) -> Result<Engines, RuntimeError>;
}

/// The backend for a provider: `tensorrt-native` runs plans through the segtrt shim;
/// everything else runs through ONNX Runtime.
pub fn backend_for(provider: Provider) -> Box<dyn Backend> {
    backend_with(provider.into())
}

/// [`backend_for`] with explicit ONNX Runtime threading.
pub fn backend_with(options: EngineOptions) -> Box<dyn Backend> {
    match options.provider {
        Provider::TensorRtNative => Box::new(tensorrt::TrtBackend),
        _ => Box::new(ort::OrtBackend::new(options)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_parses_and_rejects_unknown() {
        assert_eq!("".parse::<Provider>().unwrap(), Provider::Cpu);
        assert_eq!("CUDA".parse::<Provider>().unwrap(), Provider::Cuda);
        assert_eq!("tensorrt".parse::<Provider>().unwrap(), Provider::TensorRt);
        let e = "rocm".parse::<Provider>().unwrap_err().to_string();
        assert_eq!(e, "unknown provider `rocm` (expected cpu, cuda, tensorrt or tensorrt-native)");
        assert_eq!("tensorrt-native".parse::<Provider>().unwrap().to_string(), "tensorrt-native");
        assert_eq!(backend_for(Provider::TensorRtNative).name(), "tensorrt");
    }
}
