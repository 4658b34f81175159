//! Creating ONNX Runtime sessions: provider registration, metadata, manifest check.
use std::path::Path;

use ort::execution_providers::{CUDAExecutionProvider, ExecutionProviderDispatch, TensorRTExecutionProvider};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::tensor::TensorElementType;
use ort::value::ValueType;

use super::library;
use crate::bundle::{check_model_io, Bundle, BundleError, Dim, Io, IoSpec, Manifest};
use crate::runtime::{EngineOptions, Provider, RuntimeError};

/// Opens `[files] <key>` of the bundle with `provider` and checks it against the manifest.
pub fn open_validated(bundle: &Bundle, key: &str, options: impl Into<EngineOptions>) -> Result<Session, RuntimeError> {
    let path = bundle.file(key).ok_or_else(|| RuntimeError::Session(format!("bundle has no {key}")))?;
    let session = open_session(&path, &bundle.manifest, key, options.into())?;
    check_against_manifest(bundle, key, &session)?;
    Ok(session)
}

/// Checks an open session of `[files] <key>` against the bundle's manifest (names, dtypes,
/// shapes); also run when a stream shares a session another stream opened.
pub fn check_against_manifest(bundle: &Bundle, key: &str, session: &Session) -> Result<(), RuntimeError> {
    let path = bundle.file(key).ok_or_else(|| RuntimeError::Session(format!("bundle has no {key}")))?;
    let (inputs, outputs) = io_specs(session);
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    check_model_io(&bundle.manifest, key, &file_name, &inputs, &outputs).map_err(BundleError::Mismatch)?;
    Ok(())
}

/// Checks an ONNX file the pipeline does not run yet (the text encoder) against the
/// manifest: a CPU session without graph optimisation, only for its metadata (~0.1 s).
pub fn validate_only(bundle: &Bundle, key: &str) -> Result<(), RuntimeError> {
    let Some(path) = bundle.file(key) else { return Ok(()) };
    library::ensure_initialised().map_err(RuntimeError::Library)?;
    let fail = |e: ort::Error| RuntimeError::Session(format!("{}: loading the model: {e}", path.display()));
    let session = Session::builder()
        .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Disable))
        .and_then(|b| b.commit_from_file(&path))
        .map_err(fail)?;
    let (inputs, outputs) = io_specs(&session);
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    check_model_io(&bundle.manifest, key, &file_name, &inputs, &outputs).map_err(BundleError::Mismatch)?;
    Ok(())
}

/// Builds one session; an unavailable provider is an error, never a CPU fallback.
pub fn open_session(path: &Path, manifest: &Manifest, key: &str, options: EngineOptions) -> Result<Session, RuntimeError> {
    library::ensure_initialised().map_err(RuntimeError::Library)?;
    let fail = |what: &str, e: ort::Error| RuntimeError::Session(format!("{}: {what}: {e}", path.display()));
    let provider = options.provider;
    let threads = options.threads;
    let mut builder = Session::builder()
        .and_then(|b| b.with_intra_threads(threads.for_file(key)))
        .and_then(|b| b.with_intra_op_spinning(threads.spin))
        .map_err(|e| fail("creating session options", e))?;
    let eps = providers(provider, manifest, key, path);
    if !eps.is_empty() {
        builder = builder.with_execution_providers(eps).map_err(|e| {
            RuntimeError::Provider(format!(
                "execution provider `{provider}` is not available: {e} (this ONNX Runtime build may be CPU-only; use provider=cpu)"
            ))
        })?;
    }
    builder.commit_from_file(path).map_err(|e| fail("loading the model", e))
}

fn providers(provider: Provider, manifest: &Manifest, key: &str, model: &Path) -> Vec<ExecutionProviderDispatch> {
    match provider {
        Provider::Cpu => Vec::new(),
        Provider::Cuda => vec![CUDAExecutionProvider::default().build().error_on_failure()],
        Provider::TensorRt | Provider::TensorRtNative => {
            let [min, opt, max] = [0, 1, 2].map(|i| trt_profile(manifest, key, i));
            // TensorRT builds an engine on first use (minutes on a Jetson, during the
            // READY->PAUSED change); the cache makes every later start take seconds. Without a
            // path ONNX Runtime writes it to the working directory, wherever that is.
            let cache = trt_cache_dir(model);
            tracing::info!(cache = %cache.display(), "TensorRT execution provider: engine cache (the first start builds it)");
            let cache = cache.to_string_lossy().into_owned();
            let mut trt = TensorRTExecutionProvider::default()
                .with_engine_cache(true)
                .with_engine_cache_path(cache.clone())
                .with_timing_cache(true)
                .with_timing_cache_path(cache);
            if !min.is_empty() {
                trt = trt.with_profile_min_shapes(min).with_profile_opt_shapes(opt).with_profile_max_shapes(max);
            }
            // CUDA runs whatever TensorRT does not take; both must exist.
            vec![trt.build().error_on_failure(), CUDAExecutionProvider::default().build().error_on_failure()]
        }
    }
}

/// Where ONNX Runtime's TensorRT provider keeps built engines for `model`:
/// `$SEGSTREAM_TRT_CACHE`, else `$XDG_CACHE_HOME` (or `~/.cache`) `/segstream/ort-tensorrt/<bundle dir name>`.
/// Engines depend on the GPU and TensorRT version; ONNX Runtime keys its files by both.
pub fn trt_cache_dir(model: &Path) -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("SEGSTREAM_TRT_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let bundle = model.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into());
    base.join("segstream/ort-tensorrt").join(bundle)
}

/// TensorRT optimisation-profile string for the dynamic inputs of one file, e.g.
/// `prompt_tokens:1x1x64,prompt_valid:1x1` (`which` = 0 min, 1 opt, 2 max).
pub fn trt_profile(manifest: &Manifest, key: &str, which: usize) -> String {
    let dynamic = manifest.tensors_of(key, Io::Input).filter(|t| t.shape.iter().any(|d| matches!(d, Dim::Symbol(_))));
    let parts: Vec<String> = dynamic
        .map(|t| {
            let dims: Vec<String> = t.shape.iter().map(|d| manifest.dim_range(d).map_or(1, |r| r[which]).to_string()).collect();
            format!("{}:{}", t.name, dims.join("x"))
        })
        .collect();
    parts.join(",")
}

/// The model's inputs and outputs as [`IoSpec`]s.
pub fn io_specs(session: &Session) -> (Vec<IoSpec>, Vec<IoSpec>) {
    let ins = session.inputs.iter().map(|i| spec_of(&i.name, &i.input_type)).collect();
    let outs = session.outputs.iter().map(|o| spec_of(&o.name, &o.output_type)).collect();
    (ins, outs)
}

fn spec_of(name: &str, ty: &ValueType) -> IoSpec {
    match ty {
        ValueType::Tensor { ty, shape, dimension_symbols } => IoSpec {
            name: name.to_string(),
            dtype: dtype_name(*ty),
            dims: shape.iter().map(|&d| (d >= 0).then_some(d)).collect(),
            symbols: dimension_symbols.iter().cloned().collect(),
        },
        other => IoSpec { name: name.to_string(), dtype: format!("other:{other:?}"), dims: vec![], symbols: vec![] },
    }
}

fn dtype_name(t: TensorElementType) -> String {
    match t {
        TensorElementType::Float32 => "f32".into(),
        TensorElementType::Int64 => "i64".into(),
        TensorElementType::Int32 => "i32".into(),
        TensorElementType::Float16 => "f16".into(),
        TensorElementType::Uint8 => "u8".into(),
        TensorElementType::Bool => "bool".into(),
        other => format!("other:{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorrt_engine_cache_is_per_bundle_under_the_user_cache() {
        if std::env::var_os("SEGSTREAM_TRT_CACHE").is_some() {
            return; // the user chose a directory; nothing to derive
        }
        let dir = trt_cache_dir(Path::new("/opt/models/tiny/image_encoder.onnx"));
        assert!(dir.ends_with("segstream/ort-tensorrt/tiny"), "{}", dir.display());
        assert!(dir.is_absolute(), "never the working directory: {}", dir.display());
    }

    #[test]
    fn tensorrt_profile_binds_symbols_to_min_opt_max() {
        let m = Manifest::parse(crate::bundle::tests::FIXTURE_TOML).unwrap();
        assert_eq!(trt_profile(&m, "mask_decoder", 0), "prompt_tokens:1x1x16,prompt_valid:1x1");
        assert_eq!(trt_profile(&m, "mask_decoder", 1), "prompt_tokens:4x192x16,prompt_valid:4x192");
        assert_eq!(trt_profile(&m, "mask_decoder", 2), "prompt_tokens:32x192x16,prompt_valid:32x192");
        assert_eq!(trt_profile(&m, "image_encoder", 0), "");
    }
}
