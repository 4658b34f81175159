//! The contract's encoder and decoder on TensorRT engines (COMPILED, NOT RUN: see mod.rs).
use super::engine::TrtEngine;
use crate::bundle::Bundle;
use crate::model::{DecoderOutput, Features, ImageEncoder, MaskDecoder, ModelError, PromptBatch};
use crate::tensor::Tensor;

fn backend(what: &str, e: String) -> ModelError {
    ModelError::Backend(format!("TensorRT {what}: {e}"))
}

pub struct TrtEncoder {
    engine: TrtEngine,
    input_shape: [usize; 4],
    /// Feature names in `Features::outputs_mut` order (the optional class_feat last).
    names: Vec<&'static str>,
}

impl TrtEncoder {
    pub fn new(engine: TrtEngine, bundle: &Bundle) -> TrtEncoder {
        let i = &bundle.manifest.input;
        let names = bundle.manifest.features().into_iter().map(|f| f.0).collect();
        TrtEncoder { engine, input_shape: [1, 3, i.height, i.width], names }
    }
}

impl ImageEncoder for TrtEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError> {
        if image.shape != self.input_shape {
            return Err(ModelError::Input(format!("image encoder expects {:?}, got {:?}", self.input_shape, image.shape)));
        }
        let mut outputs: Vec<(&str, &mut Tensor)> = self.names.iter().copied().zip(out.outputs_mut(self.names.len())).collect();
        // Features drop the batch axis: [1, C, h, w] -> [C, h, w].
        self.engine.run(&[("image", &self.input_shape, &image.data)], &mut outputs, 1).map_err(|e| backend("image encoder", e))
    }
}

pub struct TrtDecoder {
    engine: TrtEngine,
    hidden: usize,
    /// Feature input names (mask_feat, s8, s16, s32[, class_feat]).
    names: Vec<&'static str>,
    /// One padding token used when there is no prompt (the engine needs P >= 1).
    empty_tokens: Vec<f32>,
}

impl TrtDecoder {
    pub fn new(engine: TrtEngine, bundle: &Bundle) -> TrtDecoder {
        // Prompt tokens are token_dim wide (hidden_dim unless contract v2's "gather").
        let c = bundle.manifest.model.token_dim();
        let names = bundle.manifest.features().into_iter().map(|f| f.0).collect();
        TrtDecoder { engine, hidden: c, names, empty_tokens: vec![0.0; c] }
    }
}

impl MaskDecoder for TrtDecoder {
    fn decode_into(&mut self, f: &Features, prompts: &PromptBatch, detect: bool, out: &mut DecoderOutput) -> Result<(), ModelError> {
        let p = prompts.num_prompts();
        let (rows, cols) = if p == 0 { (1, 1) } else { (p, prompts.tokens.shape[1]) };
        let (tokens, valid): (&[f32], &[f32]) =
            if p == 0 { (&self.empty_tokens, &[0.0]) } else { (&prompts.tokens.data, &prompts.valid.data) };
        let batched = |t: &Tensor| -> Vec<usize> { std::iter::once(1).chain(t.shape.iter().copied()).collect() };
        let feats: Vec<&Tensor> = f.inputs(self.names.len()).collect();
        let shapes: Vec<Vec<usize>> = feats.iter().map(|t| batched(t)).collect();
        let (tok_shape, val_shape) = ([rows, cols, self.hidden], [rows, cols]);
        let mut inputs: Vec<(&str, &[usize], &[f32])> =
            self.names.iter().zip(&shapes).zip(feats).map(|((n, s), t)| (*n, &s[..], &t.data[..])).collect();
        inputs.push(("prompt_tokens", &tok_shape, tokens));
        inputs.push(("prompt_valid", &val_shape, valid));
        {
            let (d, q) = (&mut out.detections, &mut out.prompts);
            let mut outputs = [
                ("det_masks", &mut d.mask_logits),
                ("det_class_emb", &mut d.class_emb),
                ("det_assoc_emb", &mut d.assoc_emb),
                ("det_quality", &mut d.quality),
                ("prompt_masks", &mut q.mask_logits),
                ("prompt_class_emb", &mut q.class_emb),
                ("prompt_assoc_emb", &mut q.assoc_emb),
                ("prompt_quality", &mut q.quality),
            ];
            self.engine.run(&inputs, &mut outputs, 0).map_err(|e| backend("mask decoder", e))?;
        }
        // Same meaning as the ONNX Runtime decoder: no detections unless asked, and the
        // padding prompt's output is not a target's.
        if !detect {
            out.detections.clear();
        }
        if p == 0 {
            out.prompts.clear();
        }
        Ok(())
    }
}
