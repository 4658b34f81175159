//! The unified mask decoder on ONNX Runtime.
//!
//! Inputs are zero-copy views of the caller's buffers (features and prompt batch).
//! The decoder is always run with P >= 1 prompt rows: with no targets it gets one empty
//! prompt (T = 1, no valid token) whose outputs are dropped, as the contract allows.
//! Outputs come from ONNX Runtime's CPU arena and are copied into the caller's
//! [`DecoderOutput`], whose buffers are reused from frame to frame. On the CPU the session
//! is the process's shared one (`shared.rs`); on a GPU provider it is the stream's own and
//! the feature maps the encoder left in device memory are bound where they are (`device.rs`).
use std::ffi::{CStr, CString};
use std::sync::Arc;

use ort::session::Session;
use ort::value::{DynValue, TensorRef};

use super::device::{lock, DecoderDevice, SharedFeatures};
use super::shared::{self, CpuSession, Output};
use crate::bundle::Bundle;
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, PromptBatch, QueryOutputs};
use crate::runtime::{EngineOptions, Provider, RuntimeError};

pub struct OrtDecoder {
    engine: Engine,
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

enum Engine {
    /// CPU provider: the process's shared session and the feature inputs' names.
    Cpu { session: Arc<CpuSession>, feature_names: Vec<CString> },
    /// GPU provider: an owned session, the encoder's device outputs and a binding that reads them.
    Device { session: Session, device: DecoderDevice },
}

/// The decoder's eight outputs, in `read` order.
const OUTPUTS: [&str; 8] = [
    "det_masks",
    "det_class_emb",
    "det_assoc_emb",
    "det_quality",
    "prompt_masks",
    "prompt_class_emb",
    "prompt_assoc_emb",
    "prompt_quality",
];
const OUTPUT_NAMES: [&CStr; 8] = [
    c"det_masks",
    c"det_class_emb",
    c"det_assoc_emb",
    c"det_quality",
    c"prompt_masks",
    c"prompt_class_emb",
    c"prompt_assoc_emb",
    c"prompt_quality",
];

fn backend(what: &str, e: ort::Error) -> ModelError {
    ModelError::Backend(format!("mask decoder: {what}: {e}"))
}

impl OrtDecoder {
    /// Opens the decoder: on the CPU the process's shared session for this bundle (loaded
    /// now if no stream uses it); on a GPU provider a session of its own reading `features`,
    /// the encoder's device store (`OrtEncoder::device_features`).
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>, features: Option<SharedFeatures>) -> Result<OrtDecoder, RuntimeError> {
        let options = options.into();
        if options.provider == Provider::Cpu {
            return Ok(OrtDecoder::on_cpu(bundle, shared::cpu_engine(bundle, options.threads)?.decoder.clone()));
        }
        let session = super::session::open_validated(bundle, "mask_decoder", options)?;
        let features =
            features.ok_or_else(|| RuntimeError::Session("mask decoder: a GPU provider needs the encoder's device features".into()))?;
        let names: Vec<String> = OUTPUTS.iter().map(|s| s.to_string()).collect();
        let device = DecoderDevice::new(&session, features, &names).map_err(RuntimeError::Session)?;
        Ok(OrtDecoder::with_engine(bundle, Engine::Device { session, device }))
    }

    /// This stream's decoder on a shared CPU session (`shared::cpu_engine`).
    pub fn on_cpu(bundle: &Bundle, session: Arc<CpuSession>) -> OrtDecoder {
        let feature_names =
            bundle.manifest.features().into_iter().map(|(n, _)| CString::new(n).expect("no NUL in a feature name")).collect();
        OrtDecoder::with_engine(bundle, Engine::Cpu { session, feature_names })
    }

    fn with_engine(bundle: &Bundle, engine: Engine) -> OrtDecoder {
        let m = &bundle.manifest;
        let (w, h, c) = (m.input.width, m.input.height, m.model.token_dim());
        let features =
            m.features().into_iter().map(|(n, s)| (n, [1, m.model.feature_channels(n), h / s as usize, w / s as usize])).collect();
        OrtDecoder {
            engine,
            features,
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
        if let Some(tag) = features.device {
            let Engine::Device { session, device } = &mut self.engine else {
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
            let outputs = session.run_binding(&device.binding).map_err(|e| backend("run", e));
            // The prompt views borrow this frame's buffers: the binding must not keep them.
            let result = outputs.and_then(|o| read_outputs(|name| o.get(name), detect, p, out));
            device.binding.clear_inputs();
            return result;
        }
        let Engine::Cpu { session, feature_names } = &self.engine else {
            return Err(ModelError::Input("host features, but this decoder reads the encoder's device memory".into()));
        };
        let mut views = Vec::with_capacity(self.features.len());
        for ((_, shape), t) in self.features.iter().zip(features.inputs(self.features.len())) {
            views.push(view(shape, &t.data)?);
        }
        let mut inputs: Vec<(&CStr, &dyn ort::AsPointer<Sys = ort::sys::OrtValue>)> = Vec::with_capacity(views.len() + 2);
        for (name, v) in feature_names.iter().zip(&views) {
            inputs.push((name.as_c_str(), &**v));
        }
        inputs.push((c"prompt_tokens", &*tokens));
        inputs.push((c"prompt_valid", &*valid));
        // ORT allocates its outputs from its own arena (reused across runs); we copy them
        // into `out`'s buffers, which keep their capacity from frame to frame.
        let mut outputs = OUTPUT_NAMES.map(|n| (n, Output::Alloc(None)));
        session.run(&inputs, &mut outputs).map_err(|e| backend("run", e))?;
        let get = |name: &str| -> Option<&DynValue> {
            let k = OUTPUTS.iter().position(|o| *o == name)?;
            match &outputs[k].1 {
                Output::Alloc(v) => v.as_ref(),
                Output::Into(_) => None,
            }
        };
        read_outputs(get, detect, p, out)
    }
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
