//! The unified mask decoder on ONNX Runtime.
//!
//! Inputs are zero-copy views of the caller's buffers (features and prompt batch).
//! The decoder is always run with P >= 1 prompt rows: with no targets it gets one empty
//! prompt (T = 1, no valid token) whose outputs are dropped, as the contract allows.
//! Outputs come from ONNX Runtime's CPU arena and are copied into the caller's
//! [`DecoderOutput`], whose buffers are reused from frame to frame. On a GPU provider the
//! feature maps the encoder left in device memory are bound where they are (`device.rs`).
//!
//! A bundle may also have a prompt-only decoder (`[files] prompt_decoder`: the same model
//! without the learnable queries). Frames without detection run it instead: their prompt
//! rows are the same (the model's self-attention keeps the two query groups apart, every
//! other step is per query) and the learnable rows were never read. The learnable queries
//! are most of the decoder's rows: those frames take about 60 % of the full decoder's time
//! (6.2 vs 10.6 ms for `engines/tiny`; the rest is per-feature-map work, engines/README.md).
use std::borrow::Cow;

use ort::session::{Session, SessionInputValue, SessionOutputs};
use ort::value::TensorRef;

use super::device::{lock, DecoderDevice, SharedFeatures};
use crate::bundle::manifest::PROMPT_DECODER;
use crate::bundle::Bundle;
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, PromptBatch, QueryOutputs};
use crate::runtime::{EngineOptions, RuntimeError};

/// One decoder graph: its session and, on a GPU provider, its device binding.
struct Graph {
    session: Session,
    /// Set on a GPU provider: the encoder's device outputs and a binding that reads them.
    device: Option<DecoderDevice>,
}

impl Graph {
    fn open(bundle: &Bundle, key: &str, options: EngineOptions, features: Option<SharedFeatures>) -> Result<Graph, RuntimeError> {
        let session = super::session::open_validated(bundle, key, options)?;
        let names: Vec<String> = session.outputs.iter().map(|o| o.name.clone()).collect();
        let device = features.map(|f| DecoderDevice::new(&session, f, &names)).transpose().map_err(RuntimeError::Session)?;
        Ok(Graph { session, device })
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
    /// `features`: the encoder's device store on a GPU provider (`OrtEncoder::device_features`).
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>, features: Option<SharedFeatures>) -> Result<OrtDecoder, RuntimeError> {
        let options = options.into();
        let full = Graph::open(bundle, "mask_decoder", options, features.clone())?;
        let prompt_only = match bundle.file(PROMPT_DECODER) {
            Some(_) if options.prompt_decoder => Some(Graph::open(bundle, PROMPT_DECODER, options, features)?),
            _ => None,
        };
        let m = &bundle.manifest;
        let (w, h, c) = (m.input.width, m.input.height, m.model.token_dim());
        let features =
            m.features().into_iter().map(|(n, s)| (n, [1, m.model.feature_channels(n), h / s as usize, w / s as usize])).collect();
        Ok(OrtDecoder {
            full,
            prompt_only,
            features,
            hidden: c,
            max_prompts: m.model.max_prompts,
            max_tokens: m.model.max_prompt_tokens,
            empty_tokens: vec![0.0; c],
            empty_valid: [0.0],
        })
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

impl MaskDecoder for OrtDecoder {
    fn decode_into(&mut self, features: &Features, prompts: &PromptBatch, detect: bool, out: &mut DecoderOutput) -> Result<(), ModelError> {
        self.check_features(features)?;
        let (p, t) = self.prompt_dims(prompts)?;
        let c = self.hidden;
        let (tokens, valid): (&[f32], &[f32]) =
            if p == 0 { (&self.empty_tokens, &self.empty_valid) } else { (&prompts.tokens.data, &prompts.valid.data) };
        let (rows, cols) = if p == 0 { (1, 1) } else { (p, t) };
        let tokens = view(&[rows, cols, c], tokens)?;
        let valid = view(&[rows, cols], valid)?;
        // Without detection the learnable rows are not read: the prompt-only graph suffices.
        let graph = match self.prompt_only.as_mut() {
            Some(g) if !detect => g,
            _ => &mut self.full,
        };
        if let Some(tag) = features.device {
            let Some(device) = graph.device.as_mut() else {
                return Err(ModelError::Input("features live in device memory, but this decoder runs on the CPU".into()));
            };
            let store = lock(&device.store);
            if tag != store.tag() {
                return Err(ModelError::Input(format!("features {tag:?} are not this decoder's latest encoder run")));
            }
            let bind = |e: ort::Error| backend("binding inputs", e);
            for ((name, _), value) in self.features.iter().zip(&store.values) {
                device.binding.bind_input(*name, value).map_err(bind)?;
            }
            // Host prompts: ONNX Runtime copies them up when they are bound.
            device.binding.bind_input("prompt_tokens", &tokens).map_err(bind)?;
            device.binding.bind_input("prompt_valid", &valid).map_err(bind)?;
            drop(store);
            let outputs = graph.session.run_binding(&device.binding).map_err(|e| backend("run", e));
            // The prompt views borrow this frame's buffers: the binding must not keep them.
            let result = outputs.and_then(|o| read_outputs(&o, detect, p, out));
            device.binding.clear_inputs();
            return result;
        }
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = Vec::with_capacity(self.features.len() + 2);
        for ((name, shape), t) in self.features.iter().zip(features.inputs(self.features.len())) {
            inputs.push((Cow::Borrowed(*name), view(shape, &t.data)?.into()));
        }
        inputs.push((Cow::Borrowed("prompt_tokens"), tokens.into()));
        inputs.push((Cow::Borrowed("prompt_valid"), valid.into()));
        // ORT allocates its outputs from its own arena (reused across runs); we copy them
        // into `out`'s buffers, which keep their capacity from frame to frame.
        let outputs = graph.session.run(inputs).map_err(|e| backend("run", e))?;
        read_outputs(&outputs, detect, p, out)
    }

    fn prompt_only(&self) -> bool {
        self.prompt_only.is_some()
    }
}

/// Copies the decoder's outputs into `out` (its buffers keep their capacity).
fn read_outputs(outputs: &SessionOutputs, detect: bool, p: usize, out: &mut DecoderOutput) -> Result<(), ModelError> {
    let read = |prefix: &str, q: &mut QueryOutputs| -> Result<(), ModelError> {
        for (head, dst) in
            [("masks", &mut q.mask_logits), ("class_emb", &mut q.class_emb), ("assoc_emb", &mut q.assoc_emb), ("quality", &mut q.quality)]
        {
            let name = format!("{prefix}_{head}");
            let value = outputs.get(&name).ok_or_else(|| ModelError::Backend(format!("mask decoder: no output {name}")))?;
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
