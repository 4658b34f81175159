//! The optional text encoder on ONNX Runtime: class names and phrases -> text embeddings.
//!
//! Tokenised in Rust with the bundle's `tokenizer.json` (Hugging Face `tokenizers`), padded
//! to the longest text of each batch and truncated to the manifest's largest L; batches are
//! at most the manifest's largest B. It always runs on the CPU: it runs only when the
//! vocabulary changes or a text target is added, never per frame, so a GPU session would
//! only hold device memory.
use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::bundle::{Bundle, Io};
use crate::model::ModelError;
use crate::runtime::{Provider, RuntimeError};
use crate::vocab::normalise;

pub struct TextEncoder {
    session: Session,
    tokenizer: Tokenizer,
    max_batch: usize,
    dim: usize,
}

impl TextEncoder {
    /// Opens `[files] text_encoder` + `tokenizer`; an error names what is missing.
    pub fn open(bundle: &Bundle) -> Result<TextEncoder, RuntimeError> {
        let fail = |m: String| RuntimeError::Session(m);
        if bundle.file("text_encoder").is_none() {
            return Err(fail(format!(
                "bundle `{}` has no text encoder ([files] text_encoder), so names outside its vocabulary cannot be embedded",
                bundle.name()
            )));
        }
        let tok_path = bundle
            .file("tokenizer")
            .ok_or_else(|| fail(format!("bundle `{}`: [files] text_encoder needs [files] tokenizer (tokenizer.json)", bundle.name())))?;
        let (max_batch, max_len) = limits(bundle)?;
        let mut tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| fail(format!("{}: cannot load the tokenizer: {e}", tok_path.display())))?;
        // tokenizer.json pads every text to a fixed length (128); pad to the batch's longest
        // instead (mean pooling ignores padding, so only speed changes) within the model's L.
        let padding = PaddingParams { strategy: PaddingStrategy::BatchLongest, ..tokenizer.get_padding().cloned().unwrap_or_default() };
        tokenizer.with_padding(Some(padding));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| fail(format!("{}: truncation: {e}", tok_path.display())))?;
        let session = super::session::open_validated(bundle, "text_encoder", Provider::Cpu)?;
        Ok(TextEncoder { session, tokenizer, max_batch, dim: bundle.manifest.model.class_dim })
    }

    /// Embedding size D (the class-embedding space).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One L2-normalised embedding per text, in order.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.max_batch) {
            self.embed_batch(chunk, &mut out)?;
        }
        Ok(out)
    }

    fn embed_batch(&mut self, texts: &[&str], out: &mut Vec<Vec<f32>>) -> Result<(), ModelError> {
        let err = |what: &str, e: &dyn std::fmt::Display| ModelError::Backend(format!("text encoder: {what}: {e}"));
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| err("tokenizing", &e))?;
        let (b, l) = (enc.len(), enc.first().map_or(0, |e| e.get_ids().len()));
        let mut ids = Vec::with_capacity(b * l);
        let mut mask = Vec::with_capacity(b * l);
        for e in &enc {
            ids.extend(e.get_ids().iter().map(|&v| v as i64));
            mask.extend(e.get_attention_mask().iter().map(|&v| v as i64));
        }
        if ids.len() != b * l {
            return Err(ModelError::Backend("text encoder: the tokenizer returned ragged rows".into()));
        }
        let view = |data| TensorRef::from_array_view(([b, l], data)).map_err(|e| err("input view", &e));
        let inputs = ort::inputs! { "input_ids" => view(&ids[..])?, "attention_mask" => view(&mask[..])? };
        let outputs = self.session.run(inputs).map_err(|e| err("run", &e))?;
        let value = outputs.get("text_emb").ok_or_else(|| ModelError::Backend("text encoder: no output text_emb".into()))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| err("text_emb", &e))?;
        if shape.len() != 2 || shape[0] as usize != b || shape[1] as usize != self.dim {
            return Err(ModelError::Backend(format!("text encoder: text_emb is {shape:?}, expected [{b}, {}]", self.dim)));
        }
        for row in data.chunks(self.dim) {
            let mut v = row.to_vec();
            normalise(&mut v); // the contract says normalised; cosine scoring relies on it
            out.push(v);
        }
        Ok(())
    }
}

/// Largest batch B and sequence length L the manifest allows for `input_ids`.
fn limits(bundle: &Bundle) -> Result<(usize, usize), RuntimeError> {
    let m = &bundle.manifest;
    let spec = m
        .tensor("text_encoder", Io::Input, "input_ids")
        .ok_or_else(|| RuntimeError::Session(format!("bundle `{}`: [[tensors]] has no text_encoder input `input_ids`", bundle.name())))?;
    let max = |axis: usize| spec.shape.get(axis).and_then(|d| m.dim_range(d)).map(|r| r[2].max(1) as usize);
    match (max(0), max(1)) {
        (Some(b), Some(l)) => Ok((b, l)),
        _ => Err(RuntimeError::Session(format!("bundle `{}`: text_encoder `input_ids` must be [B, L]", bundle.name()))),
    }
}
