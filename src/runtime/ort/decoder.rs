//! The unified mask decoder on ONNX Runtime.
//!
//! Inputs are zero-copy views of the caller's buffers (features and prompt batch).
//! The decoder is always run with P >= 1 prompt rows: with no targets it gets one empty
//! prompt (T = 1, no valid token) whose outputs are dropped, as the contract allows.
//! Outputs come from ONNX Runtime's CPU arena and are copied into the caller's
//! [`DecoderOutput`], whose buffers are reused from frame to frame.
use std::borrow::Cow;

use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;

use crate::bundle::Bundle;
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, PromptBatch, QueryOutputs};
use crate::runtime::{EngineOptions, RuntimeError};

pub struct OrtDecoder {
    session: Session,
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
    pub fn open(bundle: &Bundle, options: impl Into<EngineOptions>) -> Result<OrtDecoder, RuntimeError> {
        let session = super::session::open_validated(bundle, "mask_decoder", options.into())?;
        let m = &bundle.manifest;
        let (w, h, c) = (m.input.width, m.input.height, m.model.token_dim());
        let features =
            m.features().into_iter().map(|(n, s)| (n, [1, m.model.feature_channels(n), h / s as usize, w / s as usize])).collect();
        Ok(OrtDecoder {
            session,
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
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = Vec::with_capacity(self.features.len() + 2);
        for ((name, shape), t) in self.features.iter().zip(features.inputs(self.features.len())) {
            inputs.push((Cow::Borrowed(*name), view(shape, &t.data)?.into()));
        }
        inputs.push((Cow::Borrowed("prompt_tokens"), view(&[rows, cols, c], tokens)?.into()));
        inputs.push((Cow::Borrowed("prompt_valid"), view(&[rows, cols], valid)?.into()));
        // ORT allocates its outputs from its own arena (reused across runs); we copy them
        // into `out`'s buffers, which keep their capacity from frame to frame.
        let outputs = self.session.run(inputs).map_err(|e| backend("run", e))?;
        let read = |prefix: &str, q: &mut QueryOutputs| -> Result<(), ModelError> {
            for (head, dst) in [
                ("masks", &mut q.mask_logits),
                ("class_emb", &mut q.class_emb),
                ("assoc_emb", &mut q.assoc_emb),
                ("quality", &mut q.quality),
            ] {
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
}
