//! The contract's encoder and decoder on TensorRT engines (COMPILED, NOT RUN: see mod.rs).
use super::engine::{Dst, Src, TrtEngine};
use super::features::SharedFeatures;
use crate::bundle::Bundle;
use crate::model::{DecoderOutput, DeviceImage, Features, ImageEncoder, MaskDecoder, ModelError, PromptBatch};
use crate::tensor::Tensor;

fn backend(what: &str, e: String) -> ModelError {
    ModelError::Backend(format!("TensorRT {what}: {e}"))
}

fn lock(store: &SharedFeatures) -> std::sync::MutexGuard<'_, super::features::FeatureStore> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct TrtEncoder {
    engine: TrtEngine,
    input_shape: [usize; 4],
    /// Where the feature maps are written (shared with the decoder).
    store: SharedFeatures,
}

impl TrtEncoder {
    pub fn new(engine: TrtEngine, bundle: &Bundle, store: SharedFeatures) -> TrtEncoder {
        let i = &bundle.manifest.input;
        TrtEncoder { engine, input_shape: [1, 3, i.height, i.width], store }
    }

    /// Runs the plan with the maps left in the store; only feat_s8 also comes down.
    fn run(&mut self, image: Src, out: &mut Features) -> Result<(), ModelError> {
        let store = self.store.clone();
        let mut store = lock(&store);
        let stream = self.engine.stream().clone();
        let n = store.maps.len();
        let mut outputs: Vec<(&str, Dst)> = Vec::with_capacity(n);
        for (i, t) in out.outputs_mut(n).enumerate() {
            let (name, shape, _) = &store.maps[i];
            let ptr = store.ptr(i, &stream);
            if *name == "feat_s8" {
                outputs.push((name, Dst::DeviceAndHost(ptr, t)));
            } else {
                // Shape only: the data stays on the device (see `Features::device`).
                t.shape.clear();
                t.shape.extend_from_slice(&shape[1..]);
                t.data.clear();
                outputs.push((name, Dst::Device(ptr)));
            }
        }
        // Features drop the batch axis: [1, C, h, w] -> [C, h, w].
        self.engine.run(&[("image", &self.input_shape, image)], &mut outputs, 1).map_err(|e| backend("image encoder", e))?;
        drop(outputs);
        out.device = Some(store.advance());
        Ok(())
    }

    fn check(&self, shape: &[usize]) -> Result<(), ModelError> {
        if shape != self.input_shape {
            return Err(ModelError::Input(format!("image encoder expects {:?}, got {shape:?}", self.input_shape)));
        }
        Ok(())
    }
}

impl ImageEncoder for TrtEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        self.run(Src::Host(&image.data), out)
    }

    fn takes_device_input(&self) -> bool {
        true
    }

    /// The image is bound where preprocessing left it; the engine's stream waits for the
    /// preprocessing stream on the device (no host wait, no copy).
    fn encode_device(&mut self, image: &DeviceImage, out: &mut Features) -> Result<(), ModelError> {
        self.check(&image.shape)?;
        self.engine.wait_for(image.stream).map_err(|e| backend("image encoder", e))?;
        self.run(Src::Device(image.ptr), out)
    }
}

/// Runs `mask_decoder.plan` on every frame. A bundle's optional prompt-only decoder
/// (`[files] prompt_decoder`) is not used by this backend (it would need a second plan and
/// profile, and nothing here has run on a GPU): frames without detection decode the
/// learnable queries and drop their rows, as before. ONNX Runtime's providers, TensorRT
/// included, do use it (`runtime::ort::decoder`).
pub struct TrtDecoder {
    engine: TrtEngine,
    hidden: usize,
    /// Feature input names (mask_feat, s8, s16, s32[, class_feat]).
    names: Vec<&'static str>,
    /// One padding token used when there is no prompt (the engine needs P >= 1).
    empty_tokens: Vec<f32>,
    /// The encoder's feature maps on the device.
    store: SharedFeatures,
}

impl TrtDecoder {
    pub fn new(engine: TrtEngine, bundle: &Bundle, store: SharedFeatures) -> TrtDecoder {
        // Prompt tokens are token_dim wide (hidden_dim unless contract v2's "gather").
        let c = bundle.manifest.model.token_dim();
        let names = bundle.manifest.features().into_iter().map(|f| f.0).collect();
        TrtDecoder { engine, hidden: c, names, empty_tokens: vec![0.0; c], store }
    }
}

impl MaskDecoder for TrtDecoder {
    fn decode_into(&mut self, f: &Features, prompts: &PromptBatch, detect: bool, out: &mut DecoderOutput) -> Result<(), ModelError> {
        let p = prompts.num_prompts();
        let (rows, cols) = if p == 0 { (1, 1) } else { (p, prompts.tokens.shape[1]) };
        let (tokens, valid): (&[f32], &[f32]) =
            if p == 0 { (&self.empty_tokens, &[0.0]) } else { (&prompts.tokens.data, &prompts.valid.data) };
        let store = self.store.clone();
        let store = lock(&store);
        // Features the encoder left on the device are bound where they are; host features
        // (tests, tools) are copied up; device features of another store are refused.
        let on_device = match f.device {
            None => false,
            Some(tag) if tag == store.tag() => true,
            Some(tag) => return Err(ModelError::Input(format!("features {tag:?} are not this decoder's latest encoder run"))),
        };
        let stream = self.engine.stream().clone();
        let batched = |t: &Tensor| -> Vec<usize> { std::iter::once(1).chain(t.shape.iter().copied()).collect() };
        let feats: Vec<&Tensor> = f.inputs(self.names.len()).collect();
        let shapes: Vec<Vec<usize>> = feats.iter().map(|t| batched(t)).collect();
        let (tok_shape, val_shape) = ([rows, cols, self.hidden], [rows, cols]);
        let mut inputs: Vec<(&str, &[usize], Src)> = Vec::with_capacity(self.names.len() + 2);
        for (i, ((n, s), t)) in self.names.iter().zip(&shapes).zip(feats).enumerate() {
            let src = if on_device { Src::Device(store.ptr(i, &stream)) } else { Src::Host(&t.data) };
            inputs.push((*n, &s[..], src));
        }
        inputs.push(("prompt_tokens", &tok_shape, Src::Host(tokens)));
        inputs.push(("prompt_valid", &val_shape, Src::Host(valid)));
        {
            let (d, q) = (&mut out.detections, &mut out.prompts);
            let mut outputs = [
                ("det_masks", Dst::Host(&mut d.mask_logits)),
                ("det_class_emb", Dst::Host(&mut d.class_emb)),
                ("det_assoc_emb", Dst::Host(&mut d.assoc_emb)),
                ("det_quality", Dst::Host(&mut d.quality)),
                ("prompt_masks", Dst::Host(&mut q.mask_logits)),
                ("prompt_class_emb", Dst::Host(&mut q.class_emb)),
                ("prompt_assoc_emb", Dst::Host(&mut q.assoc_emb)),
                ("prompt_quality", Dst::Host(&mut q.quality)),
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
