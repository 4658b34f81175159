//! Native TensorRT 10 backend: plan files run through our C shim (`shim/segtrt.h`).
//!
//! STATUS: COMPILED, NOT RUN. No machine of this project has a GPU. The Rust side builds
//! in CI; the shim compiles against the public TensorRT 10.3 headers (checked by hand with
//! deploy/tensorrt/build-shim.sh --check); nothing here has executed on a GPU.
//!
//! Deployment (deploy/tensorrt/README.md): build `libsegtrt.so` on the device, build the
//! plans with `trtexec` using the optimisation profile from [`profile`], then run with
//! `provider=tensorrt-native`. Plans live in `<bundle>/tensorrt/<file>.plan`.
mod decoder;
mod engine;
pub mod features;
pub mod ffi;
pub mod profile;
pub mod stamp;

use std::path::PathBuf;
use std::sync::Arc;

use crate::bundle::Bundle;
use crate::runtime::{Backend, Engines, RuntimeError};
pub use decoder::{TrtDecoder, TrtEncoder};
pub use engine::TrtEngine;

/// Opens bundles on TensorRT through the segtrt shim and the CUDA driver.
pub struct TrtBackend;

/// Where a bundle's plan for `file` (`image_encoder`, `mask_decoder`) is expected.
pub fn plan_path(bundle: &Bundle, file: &str) -> PathBuf {
    bundle.dir.join("tensorrt").join(format!("{file}.plan"))
}

impl Backend for TrtBackend {
    fn name(&self) -> &'static str {
        "tensorrt"
    }

    fn open(&self, bundle: &Bundle) -> Result<Engines, RuntimeError> {
        let shim = Arc::new(ffi::Shim::open(&ffi::shim_path()).map_err(RuntimeError::Provider)?);
        let plans = ["image_encoder", "mask_decoder"].map(|f| plan_path(bundle, f));
        for (plan, file) in plans.iter().zip(["image_encoder", "mask_decoder"]) {
            let onnx = bundle.file(file).unwrap_or_else(|| bundle.dir.join(format!("{file}.onnx")));
            stamp::check_plan(plan, &onnx, &bundle.dir).map_err(RuntimeError::Provider)?;
        }
        // SAFETY: only probes whether libcuda can be dlopened.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(RuntimeError::Provider("TensorRT backend: libcuda (the NVIDIA driver) is not installed".into()));
        }
        let ctx =
            cudarc::driver::CudaContext::new(0).map_err(|e| RuntimeError::Provider(format!("TensorRT backend: no CUDA device: {e:?}")))?;
        // A stream of our own: enqueueV3 on the legacy null stream makes TensorRT add
        // synchronisation around every call (and warn about it).
        let stream =
            ctx.new_stream().map_err(|e| RuntimeError::Provider(format!("TensorRT backend: cannot create a CUDA stream: {e:?}")))?;
        let load = |p: &PathBuf| TrtEngine::load(shim.clone(), p, stream.clone()).map_err(RuntimeError::Session);
        // Encoder and decoder share the stream and the feature maps' device buffers.
        let store = features::FeatureStore::new(bundle, &stream).map_err(RuntimeError::Provider)?;
        Ok(Engines {
            encoder: Box::new(TrtEncoder::new(load(&plans[0])?, bundle, store.clone())),
            decoder: Box::new(TrtDecoder::new(load(&plans[1])?, bundle, store)),
            // Device buffers and the CUDA stream are this stream's own: not shared.
            share: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Bundle {
        Bundle::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/tiny")).unwrap()
    }

    /// On a machine without the shim (every machine here) opening fails with a message that
    /// says what to build, instead of panicking inside a dlopen or a CUDA call.
    #[test]
    fn missing_shim_is_an_actionable_error() {
        std::env::set_var("SEGSTREAM_TRT_SHIM", "/nonexistent/libsegtrt.so");
        let err = TrtBackend.open(&tiny()).err().expect("no shim here").to_string();
        assert!(err.contains("/nonexistent/libsegtrt.so"), "{err}");
        assert!(err.contains("build-shim.sh"), "{err}");
    }

    #[test]
    fn plans_live_beside_the_bundle() {
        let b = tiny();
        assert_eq!(plan_path(&b, "mask_decoder"), b.dir.join("tensorrt/mask_decoder.plan"));
    }
}
