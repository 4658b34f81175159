//! The engine contract (engines/CONTRACT.md) as Rust types.
//!
//! An image encoder turns a frame into multi-scale features; a unified mask decoder
//! decodes N learnable queries (detection) and P prompt queries (one per tracked or
//! user-given target) against them. Backends (ONNX Runtime, TensorRT) implement
//! [`ImageEncoder`] and [`MaskDecoder`]; the tracker only sees these traits, so its
//! unit tests drive it with a scripted decoder.
use std::sync::Arc;

use cudarc::driver::CudaStream;

use crate::tensor::Tensor;

/// Errors from a model backend.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Backend(String),
    #[error("bad input: {0}")]
    Input(String),
}

/// Image-encoder outputs for one frame (batch 1; the batch axis is dropped).
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// [C, H/8, W/8]: read by the visual sampler and by masked cross-attention.
    pub s8: Tensor,
    /// [C, H/16, W/16]
    pub s16: Tensor,
    /// [C, H/32, W/32]
    pub s32: Tensor,
    /// [C, H/4, W/4]: mask features; mask logits = MLP(query) . mask_feat.
    pub mask_feat: Tensor,
    /// [C, H/4, W/4] class features, pooled under each query's mask for its class
    /// embedding: an optional tensor of the contract (empty when the bundle has none).
    pub class_feat: Tensor,
    /// Set when a GPU encoder kept its outputs in device memory for the decoder of the same
    /// backend. Then only `s8` (what the tracker's visual sampler reads) holds data on the
    /// host; the other maps carry their shape and no data. A decoder of another backend
    /// refuses such features instead of reading empty tensors.
    pub device: Option<DeviceTag>,
}

/// Names one encoder run whose outputs live in device memory: the buffers' owner (`store`,
/// unique per process) and the run (`generation`). A decoder binds those buffers only when
/// the tag is its store's latest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTag {
    pub store: u64,
    pub generation: u64,
}

impl DeviceTag {
    /// A fresh store id (process-wide counter).
    pub fn new_store() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// A preprocessed [1, 3, H, W] f32 image in CUDA device memory: the GPU preprocessing
/// output, handed to the encoder without a trip through the host. COMPILED, NOT RUN.
pub struct DeviceImage<'a> {
    /// `CUdeviceptr` of 3 * H * W floats, valid until the next preprocessing call.
    pub ptr: u64,
    pub shape: [usize; 4],
    /// The stream that writes it: a consumer on another stream waits for it first.
    pub stream: &'a Arc<CudaStream>,
}

impl Features {
    /// The first `count` feature maps in `Manifest::features` order ([`FEATURES`], then
    /// `class_feat`): pass the length of the bundle's own feature list.
    ///
    /// [`FEATURES`]: crate::bundle::manifest::FEATURES
    pub fn inputs(&self, count: usize) -> impl Iterator<Item = &Tensor> {
        [&self.mask_feat, &self.s8, &self.s16, &self.s32, &self.class_feat].into_iter().take(count)
    }

    /// Mutable views in the same order (encoder outputs).
    pub fn outputs_mut(&mut self, count: usize) -> impl Iterator<Item = &mut Tensor> {
        [&mut self.mask_feat, &mut self.s8, &mut self.s16, &mut self.s32, &mut self.class_feat].into_iter().take(count)
    }
}

/// Prompt tokens of P targets, T tokens each (padded; `valid` marks real tokens).
#[derive(Debug, Clone, Default)]
pub struct PromptBatch {
    /// [P, T, C]
    pub tokens: Tensor,
    /// [P, T]: 1.0 for a real token, 0.0 for padding.
    pub valid: Tensor,
}

impl PromptBatch {
    pub fn num_prompts(&self) -> usize {
        self.tokens.shape.first().copied().unwrap_or(0)
    }
}

/// Per-query heads for a group of queries (learnable or prompt).
#[derive(Debug, Clone, Default)]
pub struct QueryOutputs {
    /// [Q, H/4, W/4] mask logits.
    pub mask_logits: Tensor,
    /// [Q, D] class embeddings, scored by cosine against the vocabulary's text embeddings.
    pub class_emb: Tensor,
    /// [Q, E] association embeddings (bi-softmax matching, consistency check).
    pub assoc_emb: Tensor,
    /// [Q] predicted mask quality (IoU) in [0, 1].
    pub quality: Tensor,
}

impl QueryOutputs {
    /// Zero rows, keeping every allocation for the next frame.
    pub fn clear(&mut self) {
        for t in [&mut self.mask_logits, &mut self.class_emb, &mut self.assoc_emb, &mut self.quality] {
            if let Some(rows) = t.shape.first_mut() {
                *rows = 0;
            }
            t.data.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.quality.shape.first().copied().unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decoder outputs: detections from the learnable queries, one entry per prompt.
#[derive(Debug, Clone, Default)]
pub struct DecoderOutput {
    /// Empty when the caller did not ask for detection this frame.
    pub detections: QueryOutputs,
    /// One entry per prompt of the [`PromptBatch`], in order.
    pub prompts: QueryOutputs,
}

/// Runs the image encoder on a preprocessed [1, 3, H, W] image.
pub trait ImageEncoder {
    fn encode(&mut self, image: &Tensor, out: &mut Features) -> Result<(), ModelError>;

    /// Whether [`encode_device`](Self::encode_device) works (GPU backends).
    fn takes_device_input(&self) -> bool {
        false
    }

    /// Runs on an image already in device memory (the GPU preprocessing output).
    fn encode_device(&mut self, image: &DeviceImage, out: &mut Features) -> Result<(), ModelError> {
        let _ = (image, out);
        Err(ModelError::Input("this image encoder takes host images only".into()))
    }
}

/// Runs the unified mask decoder.
pub trait MaskDecoder {
    /// Decode every prompt of `prompts`, and the learnable queries when `detect` is set,
    /// into `out`, reusing its buffers: the streaming path keeps one `DecoderOutput` and
    /// allocates nothing per frame once it is warm. Without `detect`, `out.detections`
    /// has zero rows.
    fn decode_into(&mut self, features: &Features, prompts: &PromptBatch, detect: bool, out: &mut DecoderOutput) -> Result<(), ModelError>;

    /// Whether frames without detection run a decoder without the learnable queries (the
    /// bundle's prompt-only decoder); the output is the same either way.
    fn prompt_only(&self) -> bool {
        false
    }

    /// [`decode_into`](Self::decode_into) a fresh output (tests, benches, tools).
    fn decode(&mut self, features: &Features, prompts: &PromptBatch, detect: bool) -> Result<DecoderOutput, ModelError> {
        let mut out = DecoderOutput::default();
        self.decode_into(features, prompts, detect, &mut out)?;
        Ok(out)
    }
}
