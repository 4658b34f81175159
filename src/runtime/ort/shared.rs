//! One loaded CPU engine per bundle, shared by every stream of the process.
//!
//! N streams that open the same bundle files on the CPU provider with the same threads
//! use one encoder session and one decoder session: the weights (and ONNX Runtime's
//! optimised graph and prepacked weights) are loaded once. Each stream keeps its own input
//! and output tensors, features, tracker and decoder output; only the sessions are shared.
//!
//! Concurrent runs. ONNX Runtime documents `Run` as thread-safe on one session (several
//! threads may call it at once), but ort 2.0.0-rc.10's `Session::run*` take `&mut self`:
//! ort cannot tell a CPU session from one on CUDA, DirectML, ..., where concurrent runs are
//! not safe. [`CpuSession`] is the small wrapper that runs a CPU session from `&self`
//! through the C API (`OrtApi::Run`), so two streams run at the same time on two cores
//! instead of queueing on a mutex. It is only ever built by [`cpu_engine`], for the CPU
//! provider; GPU providers keep owned sessions (their outputs live in per-stream device
//! buffers bound to the session, see `device.rs`) and ort's own `&mut` API.
//!
//! Lifetime: the registry holds [`Weak`] references; the engine is dropped when the last
//! stream using it stops, and the next start loads it again.
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::ptr::{self, NonNull};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::SystemTime;

use ort::session::Session;
use ort::sys::OrtValue;
use ort::value::DynValue;
use ort::AsPointer;

use super::session;
use crate::bundle::manifest::PROMPT_DECODER;
use crate::bundle::Bundle;
use crate::runtime::{EngineOptions, Provider, RuntimeError, Threads};

/// Most inputs or outputs of one run (the decoder has 7 inputs and 8 outputs).
const MAX_IO: usize = 16;

/// A CPU-provider ONNX Runtime session that runs from `&self` (see the module docs).
pub struct CpuSession {
    /// Never run through ort's `&mut self` API: only [`CpuSession::run`] runs it.
    session: Session,
    /// The graph's output names, for the C API.
    output_names: Vec<CString>,
}

/// Where one output of [`CpuSession::run`] goes.
pub enum Output<'a> {
    /// Into a tensor the caller allocated (right shape and type): no allocation per run.
    Into(&'a mut dyn AsPointer<Sys = OrtValue>),
    /// A value ONNX Runtime allocates (dynamic shapes); `Some` after a successful run.
    Alloc(Option<DynValue>),
}

impl CpuSession {
    fn new(session: Session) -> Result<CpuSession, RuntimeError> {
        let names = session.outputs.iter().map(|o| CString::new(o.name.as_str()));
        let output_names = names.collect::<Result<_, _>>().map_err(|e| RuntimeError::Session(format!("output name: {e}")))?;
        Ok(CpuSession { session, output_names })
    }

    /// The session's metadata (inputs, outputs).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The graph's output names, in the model's order.
    pub fn output_names(&self) -> &[CString] {
        &self.output_names
    }

    /// Runs the model once. Safe to call from several threads at once: ONNX Runtime's
    /// `Run` is thread-safe on one session, and on the CPU provider (the only one this
    /// type is built for) nothing else of the session is touched.
    pub fn run(&self, inputs: &[(&CStr, &dyn AsPointer<Sys = OrtValue>)], outputs: &mut [(&CStr, Output<'_>)]) -> Result<(), ort::Error> {
        if inputs.len() > MAX_IO || outputs.len() > MAX_IO {
            return Err(ort::Error::new(format!("at most {MAX_IO} inputs and outputs per run")));
        }
        let mut in_names = [ptr::null::<c_char>(); MAX_IO];
        let mut in_values = [ptr::null::<OrtValue>(); MAX_IO];
        for (k, (name, value)) in inputs.iter().enumerate() {
            in_names[k] = name.as_ptr();
            in_values[k] = value.ptr();
        }
        let mut out_names = [ptr::null::<c_char>(); MAX_IO];
        let mut out_values = [ptr::null_mut::<OrtValue>(); MAX_IO];
        for (k, (name, out)) in outputs.iter_mut().enumerate() {
            out_names[k] = name.as_ptr();
            if let Output::Into(value) = out {
                out_values[k] = value.ptr_mut();
            }
        }
        // SAFETY: every pointer is valid for the call: the names are NUL-terminated strings
        // and the values live OrtValues borrowed from the caller for its duration; null
        // output slots are filled by ONNX Runtime with values we own from here on. The
        // session pointer is valid while `self` lives; concurrent `Run` calls on one session
        // are supported by ONNX Runtime (CPU provider).
        let status = unsafe {
            (ort::api().Run)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                in_names.as_ptr(),
                in_values.as_ptr(),
                inputs.len(),
                out_names.as_ptr(),
                outputs.len(),
                out_values.as_mut_ptr(),
            )
        };
        // SAFETY: a status returned by the C API (freed here).
        unsafe { ort::error::status_to_result(status) }?;
        for ((_, out), value) in outputs.iter_mut().zip(out_values) {
            if let Output::Alloc(slot) = out {
                let value = NonNull::new(value).ok_or_else(|| ort::Error::new("ONNX Runtime returned no output value"))?;
                // SAFETY: a value ONNX Runtime allocated for this run and handed to us; it is
                // released by the `DynValue`, which keeps the session alive meanwhile.
                *slot = Some(unsafe { DynValue::from_ptr(value, Some(self.session.inner())) });
            }
        }
        Ok(())
    }
}

/// The encoder and decoder sessions of one bundle on the CPU (and its prompt-only
/// decoder when it has one and the options use it).
pub struct CpuEngine {
    pub encoder: Arc<CpuSession>,
    pub decoder: Arc<CpuSession>,
    pub prompt_decoder: Option<Arc<CpuSession>>,
}

/// Same directory, same model files (size and modification time, so a bundle replaced
/// in place is loaded anew), same threads and prompt-decoder choice: same engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    dir: PathBuf,
    files: Vec<(u64, Option<SystemTime>)>,
    threads: Threads,
    prompt_decoder: bool,
}

impl Key {
    fn of(bundle: &Bundle, options: EngineOptions) -> Result<Key, RuntimeError> {
        let dir = bundle.dir.canonicalize().map_err(|e| RuntimeError::Session(format!("{}: {e}", bundle.dir.display())))?;
        let mut files = Vec::new();
        for key in ["image_encoder", "mask_decoder", PROMPT_DECODER] {
            let Some(path) = bundle.file(key) else {
                if key == PROMPT_DECODER {
                    continue; // optional
                }
                return Err(RuntimeError::Session(format!("bundle has no {key}")));
            };
            let meta = std::fs::metadata(&path).map_err(|e| RuntimeError::Session(format!("{}: {e}", path.display())))?;
            files.push((meta.len(), meta.modified().ok()));
        }
        Ok(Key { dir, files, threads: options.threads, prompt_decoder: options.prompt_decoder })
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<Key, Weak<CpuEngine>>>> = LazyLock::new(Default::default);

/// The process's CPU engine for `bundle` with `options` (threads, prompt decoder): the
/// one already loaded when a running stream uses it, else a new one (validated against the
/// manifest).
pub fn cpu_engine(bundle: &Bundle, options: EngineOptions) -> Result<Arc<CpuEngine>, RuntimeError> {
    let key = Key::of(bundle, options)?;
    // Held while loading, so streams that start together load the engine once.
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.retain(|_, engine| engine.strong_count() > 0);
    if let Some(engine) = registry.get(&key).and_then(Weak::upgrade) {
        // Same model files, but this stream's manifest may say otherwise: checked again.
        session::check_against_manifest(bundle, "image_encoder", &engine.encoder.session)?;
        session::check_against_manifest(bundle, "mask_decoder", &engine.decoder.session)?;
        if let Some(prompt) = &engine.prompt_decoder {
            session::check_against_manifest(bundle, PROMPT_DECODER, &prompt.session)?;
        }
        tracing::debug!(bundle = %key.dir.display(), "sharing the loaded CPU engine");
        return Ok(engine);
    }
    let options = EngineOptions { provider: Provider::Cpu, ..options };
    let open = |file: &str| session::open_validated(bundle, file, options).and_then(CpuSession::new).map(Arc::new);
    let prompt_decoder = match bundle.file(PROMPT_DECODER) {
        Some(_) if options.prompt_decoder => Some(open(PROMPT_DECODER)?),
        // Not run (turned off), but checked like the others.
        _ => {
            session::validate_only(bundle, PROMPT_DECODER)?;
            None
        }
    };
    let engine = Arc::new(CpuEngine { encoder: open("image_encoder")?, decoder: open("mask_decoder")?, prompt_decoder });
    // Opened only when a name needs embedding (segmenter), but a broken file fails at load.
    session::validate_only(bundle, "text_encoder")?;
    registry.insert(key, Arc::downgrade(&engine));
    Ok(engine)
}

/// Engines loaded and in use now (tests, monitoring).
pub fn loaded_engines() -> usize {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|e| e.strong_count() > 0).count()
}
