//! The unified mask decoder on ONNX Runtime.
//!
//! Inputs are zero-copy views of the caller's buffers (features and prompt batch).
//! The decoder is always run with P >= 1 prompt rows: with no targets it gets one empty
//! prompt (T = 1, no valid token) whose outputs are dropped, as the contract allows.
//! Outputs come from ONNX Runtime's CPU arena and are copied into the caller's
//! [`DecoderOutput`], whose buffers are reused from frame to frame. On the CPU the sessions
//! are the process's shared ones (`shared.rs`); on a GPU provider they are the stream's own
//! and the feature maps the encoder left in device memory are bound where they are (`device.rs`).
//!
//! A bundle may also have a prompt-only decoder (`[files] prompt_decoder`: the same model
//! without the learnable queries). Frames without detection run it instead: their prompt
//! rows are the same (the model's self-attention keeps the two query groups apart, every
//! other step is per query) and the learnable rows were never read. The learnable queries
//! are most of the decoder's rows, so those frames cost less than half (engines/README.md, prompt-only decoder).
use std::ffi::{CStr, CString};
use std::sync::Arc;

use ort::session::Session;
use ort::value::{DynValue, TensorRef};

use super::device::{lock, DecoderDevice, SharedFeatures};
use super::shared::{self, CpuEngine, CpuSession, Output};
use crate::bundle::manifest::PROMPT_DECODER;
use crate::bundle::Bundle;
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, PromptBatch, QueryOutputs};
use crate::runtime::{EngineOptions, Provider, RuntimeError};

/// One decoder graph.
enum Graph {
    /// CPU provider: a session of the process's shared engine (`shared.rs`).
    Cpu(Arc<CpuSession>),
    /// GPU provider: an owned session, the encoder's device outputs and a binding that reads them.
    Device { session: Session, device: DecoderDevice },
}

impl Graph {
    fn on_device(bundle: &Bundle, key: &str, options: EngineOptions, features: SharedFeatures) -> Result<Graph, RuntimeError> {
        let session = super::session::open_validated(bundle, key, options)?;
        let names: Vec<String> = session.outputs.iter().map(|o| o.name.clone()).collect();
        let device = DecoderDevice::new(&session, features, &names).map_err(RuntimeError::Session)?;
        Ok(Graph::Device { session, device })
    }
}

pub struct OrtDecoder {
    /// The whole decoder: learnable and prompt queries.
    full: Graph,
    /// The bundle's prompt-only decoder, for frames without detection (when it has one
    /// and the options allow it).
    prompt_only: Option<Graph>,
    /// Feature input names (mask_feat, s8, s16, s32[, class_feat]) and their
    /// [1, C, h, w] shapes.
    features: Vec<(&'static str, [usize; 4])>,
    /// The same names for the C API (CPU runs).
    feature_names: Vec<CString>,
    /// Width of a prompt token (`token_dim`; hidden_dim in contract v1).
    hidden: usize,
    max_prompts: usize,
    max_tokens: usize,
    /// One empty prompt row [1, 1, C] / [1, 1], used when there are no targets.
    empty_tokens: Vec<f32>,
    empty_valid: [f32; 1],
}

fn backend(what: &str, e: ort::Error) -> ModelError {
    ModelError::Backend(format!("mask decoder: {what}: {e}"))
}

impl OrtDecoder {
    /// Opens the decoder: on the CPU the process's shared sessions for this bundle (loaded
    /// now if no stream uses them); on a GPU provider sessions of its own reading `features`,
    /// the encoder's device store (`OrtEncoder::device_features`).
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>, features: Option<SharedFeatures>) -> Result<OrtDecoder, RuntimeError> {
        let options = options.into();
        if options.provider == Provider::Cpu {
            let engine = shared::cpu_engine(bundle, options)?;
            return Ok(OrtDecoder::on_cpu(bundle, &engine));
        }
        let features =
            features.ok_or_else(|| RuntimeError::Session("mask decoder: a GPU provider needs the encoder's device features".into()))?;
        let full = Graph::on_device(bundle, "mask_decoder", options, features.clone())?;
        let prompt_only = match bundle.file(PROMPT_DECODER) {
            Some(_) if options.prompt_decoder => Some(Graph::on_device(bundle, PROMPT_DECODER, options, features)?),
            _ => None,
        };
        Ok(OrtDecoder::with_graphs(bundle, full, prompt_only))
    }

    /// This stream's decoder on a shared CPU engine (`shared::cpu_engine`).
    pub fn on_cpu(bundle: &Bundle, engine: &CpuEngine) -> OrtDecoder {
        let prompt_only = engine.prompt_decoder.clone().map(Graph::Cpu);
        OrtDecoder::with_graphs(bundle, Graph::Cpu(engine.decoder.clone()), prompt_only)
    }

    fn with_graphs(bundle: &Bundle, full: Graph, prompt_only: Option<Graph>) -> OrtDecoder {
        let m = &bundle.manifest;
        let (w, h, c) = (m.input.width, m.input.height, m.model.token_dim());
        let features: Vec<_> =
            m.features().into_iter().map(|(n, s)| (n, [1, m.model.feature_channels(n), h / s as usize, w / s as usize])).collect();
        let feature_names = features.iter().map(|(n, _)| CString::new(*n).expect("no NUL in a feature name")).collect();
        OrtDecoder {
            full,
            prompt_only,
            features,
            feature_names,
            hidden: c,
            max_prompts: m.model.max_prompts,
            max_tokens: m.model.max_prompt_tokens,
            empty_tokens: vec![0.0; c],
            empty_valid: [0.0],
        }
    }

    fn check_features(&self, f: &Features) -> Result<(), ModelError> {
        for ((name, want), t) in self.features.iter().zip(f.inputs(self.features.len())) {
            if t.shape[..] != want[1..] {
                return Err(ModelError::Input(format!("{name} is {:?}, decoder expects {:?}", t.shape, &want[1..])));
            }
        }
        Ok(())
    }

    /// (P, T) of a prompt batch, checked against the contract's bounds.
    fn prompt_dims(&self, prompts: &PromptBatch) -> Result<(usize, usize), ModelError> {
        let p = prompts.num_prompts();
        if p == 0 {
            return Ok((0, 0));
        }
        let (ts, vs) = (&prompts.tokens.shape, &prompts.valid.shape);
        if ts.len() != 3 || ts[2] != self.hidden || vs.len() != 2 || vs[..] != ts[..2] {
            return Err(ModelError::Input(format!("prompt tokens {ts:?} / valid {vs:?} do not match [P, T, {}] / [P, T]", self.hidden)));
        }
        if p > self.max_prompts || ts[1] > self.max_tokens || ts[1] == 0 {
            return Err(ModelError::Input(format!(
                "prompt batch [P={p}, T={}] is outside P in [1, {}], T in [1, {}]",
                ts[1], self.max_prompts, self.max_tokens
            )));
        }
        Ok((p, ts[1]))
    }
}

fn view<'a>(shape: &[usize], data: &'a [f32]) -> Result<TensorRef<'a, f32>, ModelError> {
    TensorRef::from_array_view((shape.to_vec(), data)).map_err(|e| backend("input view", e))
}

/// One run's prompt inputs and what to do with the outputs.
struct Run<'a> {
    tokens: TensorRef<'a, f32>,
    valid: TensorRef<'a, f32>,
    detect: bool,
    /// Prompt rows (0: the padding row only).
    p: usize,
}

impl MaskDecoder for OrtDecoder {
    fn decode_into(&mut self, features: &Features, prompts: &PromptBatch, detect: bool, out: &mut DecoderOutput) -> Result<(), ModelError> {
        self.check_features(features)?;
        let (p, t) = self.prompt_dims(prompts)?;
        let c = self.hidden;
        let (tokens, valid): (&[f32], &[f32]) =
            if p == 0 { (&self.empty_tokens, &self.empty_valid) } else { (&prompts.tokens.data, &prompts.valid.data) };
        let (rows, cols) = if p == 0 { (1, 1) } else { (p, t) };
        if std::env::var_os("XEXP_PT").is_some() {
            eprintln!("PT {rows} {cols} {detect}");
        }
        let run = Run { tokens: view(&[rows, cols, c], tokens)?, valid: view(&[rows, cols], valid)?, detect, p };
        // Without detection the learnable rows are not read: the prompt-only graph suffices.
        let graph = match self.prompt_only.as_mut() {
            Some(g) if !detect => g,
            _ => &mut self.full,
        };
        match (graph, features.device) {
            (Graph::Device { session, device }, Some(tag)) => run_device(session, device, &self.features, tag, run, out),
            (Graph::Cpu(session), None) => run_cpu(session, &self.features, &self.feature_names, features, run, out),
            (Graph::Cpu(_), Some(_)) => Err(ModelError::Input("features live in device memory, but this decoder runs on the CPU".into())),
            (Graph::Device { .. }, None) => {
                Err(ModelError::Input("host features, but this decoder reads the encoder's device memory".into()))
            }
        }
    }

    fn prompt_only(&self) -> bool {
        self.prompt_only.is_some()
    }
}

/// Runs a GPU-provider graph on the encoder's device features (`tag`: their encoder run).
fn run_device(
    session: &mut Session,
    device: &mut DecoderDevice,
    inputs: &[(&'static str, [usize; 4])],
    tag: crate::model::DeviceTag,
    run: Run,
    out: &mut DecoderOutput,
) -> Result<(), ModelError> {
    let store = lock(&device.store);
    if tag != store.tag() {
        return Err(ModelError::Input(format!("features {tag:?} are not this decoder's latest encoder run")));
    }
    let bind = |e: ort::Error| backend("binding inputs", e);
    for ((name, _), value) in inputs.iter().zip(&store.values) {
        device.binding.bind_input(*name, value).map_err(bind)?;
    }
    // Host prompts: ONNX Runtime copies them up when they are bound.
    device.binding.bind_input("prompt_tokens", &run.tokens).map_err(bind)?;
    device.binding.bind_input("prompt_valid", &run.valid).map_err(bind)?;
    drop(store);
    let outputs = session.run_binding(&device.binding).map_err(|e| backend("run", e));
    // The prompt views borrow this frame's buffers: the binding must not keep them.
    let result = outputs.and_then(|o| read_outputs(|name| o.get(name), run.detect, run.p, out));
    device.binding.clear_inputs();
    result
}

/// Runs a shared CPU session (from `&self`: other streams may run it at the same time).
fn run_cpu(
    session: &CpuSession,
    shapes: &[(&'static str, [usize; 4])],
    names: &[CString],
    features: &Features,
    run: Run,
    out: &mut DecoderOutput,
) -> Result<(), ModelError> {
    let mut views = Vec::with_capacity(shapes.len());
    for ((_, shape), t) in shapes.iter().zip(features.inputs(shapes.len())) {
        views.push(view(shape, &t.data)?);
    }
    let mut inputs: Vec<(&CStr, &dyn ort::AsPointer<Sys = ort::sys::OrtValue>)> = Vec::with_capacity(views.len() + 2);
    for (name, v) in names.iter().zip(&views) {
        inputs.push((name.as_c_str(), &**v));
    }
    inputs.push((c"prompt_tokens", &*run.tokens));
    inputs.push((c"prompt_valid", &*run.valid));
    // ORT allocates its outputs from its own arena (reused across runs); we copy them
    // into `out`'s buffers, which keep their capacity from frame to frame. Every output of
    // the graph is asked for (the prompt-only graph has no det_* outputs).
    let mut outputs: Vec<(&CStr, Output)> = session.output_names().iter().map(|n| (n.as_c_str(), Output::Alloc(None))).collect();
    session.run(&inputs, &mut outputs).map_err(|e| backend("run", e))?;
    let get = |name: &str| -> Option<&DynValue> {
        match &outputs.iter().find(|(n, _)| n.to_bytes() == name.as_bytes())?.1 {
            Output::Alloc(v) => v.as_ref(),
            Output::Into(_) => None,
        }
    };
    read_outputs(get, run.detect, run.p, out)
}

/// Copies the decoder's outputs into `out` (its buffers keep their capacity).
fn read_outputs<'v>(get: impl Fn(&str) -> Option<&'v DynValue>, detect: bool, p: usize, out: &mut DecoderOutput) -> Result<(), ModelError> {
    let read = |prefix: &str, q: &mut QueryOutputs| -> Result<(), ModelError> {
        for (head, dst) in
            [("masks", &mut q.mask_logits), ("class_emb", &mut q.class_emb), ("assoc_emb", &mut q.assoc_emb), ("quality", &mut q.quality)]
        {
            let name = format!("{prefix}_{head}");
            let value = get(&name).ok_or_else(|| ModelError::Backend(format!("mask decoder: no output {name}")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| backend(&name, e))?;
            dst.shape.clear();
            dst.shape.extend(shape.iter().map(|&d| d as usize));
            dst.data.clear();
            dst.data.extend_from_slice(data);
        }
        Ok(())
    };
    if detect {
        read("det", &mut out.detections)?;
    } else {
        out.detections.clear();
    }
    read("prompt", &mut out.prompts)?;
    if p == 0 {
        // The padding prompt's row is not a target's: zero rows, head shapes kept.
        out.prompts.clear();
    }
    Ok(())
}
