//! One frame in, tracked objects out: preprocessing, encoder, tracker, postprocessing.
//!
//! The GStreamer `segment` element and the CLI only use this API. [`Segmenter::open`]
//! resolves and loads the bundle, opens the engines (validated against the manifest) and
//! the tracker; [`Segmenter::process`] runs one frame and returns a [`FrameResult`] that
//! lives in the segmenter (its masks' allocations are reused on the next frame).
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bundle::manifest::PromptEncoding;
use crate::bundle::{resolve_bundle_dir, Bundle};
// Re-exported: callers see one API; the types live below the kernels and output modules.
pub use crate::frame::{FrameRef, PixelFormat};
pub use crate::frame_result::{FrameResult, ObjectResult};
use crate::kernels::cuda::GpuKernels;
use crate::kernels::{MaskUpsampler, Preprocessor};
use crate::mask::{BBox, Mask};
use crate::model::{DecoderOutput, Features, ImageEncoder, MaskDecoder, PromptBatch};
use crate::runtime::{backend_with, EngineOptions, EngineShare, EngineWatch, Provider, Threads};
use crate::tensor::Tensor;
use crate::tracker::{Track, Tracker};
use crate::vocab::Vocabulary;

mod ahead;
mod encoder_thread;
mod vocabulary;
use encoder_thread::EncodeAhead;
use vocabulary::OpenVocabulary;
pub use vocabulary::MAX_NAMES;

/// A text target also answers to vocabulary names this close to it (text-text cosine,
/// all-MiniLM-L6-v2: "a red disc" ~ "disc" 0.79, unrelated shape names < 0.5).
pub const TEXT_SYNONYM_COSINE: f32 = 0.7;

/// Settings chosen by the user (element properties, CLI flags, config files).
#[derive(Debug, Clone)]
pub struct SegmenterSettings {
    /// Bundle directory; `None`: `SEGSTREAM_MODEL`, then the bundled default.
    pub model: Option<std::path::PathBuf>,
    /// `cpu` (default), `cuda`, `tensorrt` (ONNX Runtime providers) or `tensorrt-native`.
    pub provider: String,
    pub tracker: crate::tracker::TrackerConfig,
    /// Output mask size; `None`: the frame's size.
    pub mask_size: Option<(usize, usize)>,
    /// Class names for open-vocabulary models; empty: the bundle's vocabulary.
    pub vocabulary: Vec<String>,
    /// ONNX Runtime threads per engine session (see [`Threads`] for the default's evidence).
    pub threads: Threads,
    /// Use the bundle's prompt-only decoder on frames without detection (default on; same
    /// results, see [`EngineOptions::prompt_decoder`]).
    pub prompt_decoder: bool,
}

impl Default for SegmenterSettings {
    fn default() -> Self {
        SegmenterSettings {
            model: None,
            provider: "cpu".into(),
            tracker: Default::default(),
            mask_size: None,
            vocabulary: Vec::new(),
            threads: Threads::default(),
            prompt_decoder: true,
        }
    }
}

/// Errors opening or running a segmenter; messages name the file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum SegmenterError {
    #[error("{0}")]
    Load(String),
    #[error("{0}")]
    Run(String),
}

/// Wall time of the stages of the last [`Segmenter::process`] call. `track` includes
/// `decode` (the decoder runs inside the tracker step); the tracker's own work is
/// `track - decode`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTiming {
    pub preprocess: Duration,
    pub encode: Duration,
    pub track: Duration,
    pub decode: Duration,
    /// Mask upsampling to the output size, boxes, result objects.
    pub postprocess: Duration,
}

impl StageTiming {
    pub fn total(&self) -> Duration {
        self.preprocess + self.encode + self.track + self.postprocess
    }
}

/// The streaming segmenter: owns the engines, the tracker and every per-frame buffer.
pub struct Segmenter {
    bundle_name: String,
    /// The decoder's largest prompt batch (bundle `max_prompts`): `max_targets` may not exceed it.
    max_prompts: usize,
    bundle_dir: PathBuf,
    input: (usize, usize),
    mask_size: Option<(usize, usize)>,
    vocab: Vocabulary,
    /// The bundle's vocabulary + text encoder: embeds new names and text targets.
    open_vocab: OpenVocabulary,
    pre: Preprocessor,
    image: Tensor,
    features: Features,
    /// The (image, features) pair not in use while encoding ahead (see `segmenter::ahead`).
    spare: (Tensor, Features),
    /// The image encoder, while it runs on the caller's thread (`None` while `ahead` has it).
    encoder: Option<Box<dyn ImageEncoder + Send>>,
    /// The encoder on its own thread, one frame ahead (see [`Segmenter::process_ahead`]).
    ahead: Option<EncodeAhead>,
    decoder: Box<dyn MaskDecoder + Send>,
    /// This stream's hold on a model other streams share (CPU provider).
    share: Option<EngineShare>,
    tracker: Tracker,
    upsampler: MaskUpsampler,
    /// CUDA twins of the kernels, used with a GPU provider when CUDA + NVRTC load.
    /// COMPILED, NOT RUN: this project has no GPU (see kernels::cuda).
    gpu: Option<GpuKernels>,
    /// Why a GPU provider runs without the CUDA kernels (see [`Segmenter::gpu_warning`]).
    gpu_warning: Option<String>,
    result: FrameResult,
    /// Masks of the previous frame's objects, reused for the next frame's objects.
    spare_masks: Vec<Mask>,
    /// This frame's masks and boxes while they are computed (empty between frames).
    masks: Vec<Mask>,
    boxes: Vec<Option<BBox>>,
    timing: StageTiming,
}

impl Segmenter {
    /// Loads the bundle (explicit path, `SEGSTREAM_MODEL`, or the bundled default), opens
    /// the engines on the chosen provider and creates the tracker.
    pub fn open(settings: &SegmenterSettings) -> Result<Segmenter, SegmenterError> {
        let load = |e: &dyn std::fmt::Display| SegmenterError::Load(e.to_string());
        let provider: Provider = settings.provider.parse().map_err(|e| load(&e))?;
        let dir = resolve_bundle_dir(settings.model.as_deref()).map_err(|e| load(&e))?;
        let bundle = Bundle::load(&dir).map_err(|e| load(&e))?;
        let mut open_vocab = OpenVocabulary::new(&bundle);
        let vocab = open_vocab.select(&settings.vocabulary).map_err(SegmenterError::Load)?;
        check_tracker_fits(&settings.tracker, &bundle)?;
        if let Some((w, h)) = settings.mask_size {
            if w == 0 || h == 0 {
                return Err(SegmenterError::Load(format!("mask size {w}x{h} must be positive")));
            }
        }
        check_threads(&settings.threads)?;
        let options = EngineOptions { provider, threads: settings.threads, prompt_decoder: settings.prompt_decoder };
        let engines = backend_with(options).open(&bundle).map_err(|e| load(&e))?;
        let (gpu, gpu_warning) = gpu_kernels(provider);
        let i = &bundle.manifest.input;
        let prompt_only = engines.decoder.prompt_only();
        tracing::info!(bundle = %dir.display(), name = bundle.name(), %provider, classes = vocab.len(), prompt_only, "segmenter open");
        let mut tracker = Tracker::new(settings.tracker.clone());
        tracker.set_gather_tokens(bundle.manifest.model.prompt_encoding == PromptEncoding::Gather);
        Ok(Segmenter {
            bundle_name: bundle.name().to_string(),
            max_prompts: bundle.manifest.model.max_prompts,
            bundle_dir: dir,
            input: (i.width, i.height),
            mask_size: settings.mask_size,
            vocab,
            open_vocab,
            pre: Preprocessor::new(i.width, i.height, i.mean, i.std),
            image: Tensor::zeros(&[1, 3, i.height, i.width]),
            features: Features::default(),
            spare: Default::default(),
            encoder: Some(engines.encoder),
            ahead: None,
            decoder: engines.decoder,
            share: engines.share,
            tracker,
            upsampler: MaskUpsampler::new(),
            gpu,
            gpu_warning,
            result: FrameResult { model: bundle.name().to_string(), ..Default::default() },
            spare_masks: Vec::new(),
            masks: Vec::new(),
            boxes: Vec::new(),
            timing: StageTiming::default(),
        })
    }

    /// Runs one frame: preprocess -> encoder -> tracker (decoder inside) -> masks at the
    /// output size. `frame_index` is the 0-based frame number reported in the result.
    pub fn process(&mut self, frame: &FrameRef, frame_index: u64) -> Result<&FrameResult, SegmenterError> {
        let run = |e: &dyn std::fmt::Display| SegmenterError::Run(e.to_string());
        let t0 = Instant::now();
        self.reclaim_encoder()?;
        let encoder = self.encoder.as_mut().ok_or_else(no_encoder)?;
        // GPU: the preprocessed image stays on the device as the encoder's input.
        let on_device = encoder.takes_device_input();
        let t1;
        match self.gpu.as_mut() {
            Some(gpu) if on_device => {
                let image = gpu.preprocess_to_device(&self.pre, frame).map_err(|e| run(&e))?;
                t1 = Instant::now();
                encoder.encode_device(&image, &mut self.features).map_err(|e| run(&e))?;
            }
            gpu => {
                match gpu {
                    Some(gpu) => gpu.preprocess(&self.pre, frame, &mut self.image).map_err(|e| run(&e))?,
                    None => self.pre.run(frame, &mut self.image).map_err(|e| run(&e))?,
                }
                t1 = Instant::now();
                encoder.encode(&self.image, &mut self.features).map_err(|e| run(&e))?;
            }
        }
        let t2 = Instant::now();
        self.timing.preprocess = t1 - t0;
        self.timing.encode = t2 - t1;
        self.track(frame.width, frame.height, frame_index)
    }

    /// Tracker, decoder and masks of the frame whose features are in `self.features`.
    fn track(&mut self, width: usize, height: usize, frame_index: u64) -> Result<&FrameResult, SegmenterError> {
        let run = |e: &dyn std::fmt::Display| SegmenterError::Run(e.to_string());
        let t2 = Instant::now();
        let (mw, mh) = self.mask_size.unwrap_or((width, height));
        let (w4, h4) = (self.input.0 / 4, self.input.1 / 4);
        self.recycle_objects();
        self.result.frame = frame_index;
        self.result.width = width;
        self.result.height = height;
        let tracks = self.tracker.step(&self.features, self.decoder.as_mut(), &self.vocab).map_err(|e| run(&e))?;
        let t3 = Instant::now();
        if let Some(t) = tracks.iter().find(|t| t.mask_logits.len() != w4 * h4) {
            return Err(SegmenterError::Run(format!("track {}: {} mask logits, expected {w4}x{h4}", t.id, t.mask_logits.len())));
        }
        // Every track's mask and box, in `self.masks` / `self.boxes` (allocations reused).
        self.masks.extend((0..tracks.len()).map(|_| self.spare_masks.pop().unwrap_or_default()));
        match self.gpu.as_mut() {
            Some(gpu) => {
                let logits = tracks.iter().map(|t| &t.mask_logits[..]);
                if let Err(e) = gpu.upsample_masks(logits, (w4, h4), (mw, mh), &mut self.upsampler, &mut self.masks, &mut self.boxes) {
                    self.spare_masks.append(&mut self.masks); // kept for the next frame
                    return Err(run(&e));
                }
            }
            None => {
                self.boxes.clear();
                for (t, mask) in tracks.iter().zip(self.masks.iter_mut()) {
                    self.boxes.push(self.upsampler.run(&t.mask_logits, (w4, h4), (mw, mh), mask));
                }
            }
        }
        for ((t, mask), bbox) in tracks.iter().zip(self.masks.drain(..)).zip(&self.boxes) {
            match bbox {
                Some(bbox) => self.result.objects.push(object_of(t, &self.vocab, *bbox, mask)),
                None => self.spare_masks.push(mask), // no pixel survives at the output size
            }
        }
        self.timing.track = t3 - t2;
        self.timing.decode = self.tracker.last_timing().decode;
        self.timing.postprocess = t3.elapsed();
        Ok(&self.result)
    }

    /// Stage times of the last `process` call.
    pub fn last_timing(&self) -> StageTiming {
        self.timing
    }

    /// Runs the encoder and the decoder (with detection) once on a blank image, touching
    /// neither the tracker nor the results, so the first real frame does not pay for ONNX
    /// Runtime's first-run work (memory planning, arena growth). Returns the run's time.
    pub fn warm_up(&mut self) -> Result<Duration, SegmenterError> {
        let run = |e: &dyn std::fmt::Display| SegmenterError::Run(format!("warm-up: {e}"));
        let t0 = Instant::now();
        self.image.data.fill(0.0);
        self.reclaim_encoder()?;
        let encoder = self.encoder.as_mut().ok_or_else(no_encoder)?;
        encoder.encode(&self.image, &mut self.features).map_err(|e| run(&e))?;
        // Decoded into a scratch output (the tracker's own output is left alone); once per start.
        let mut scratch = DecoderOutput::default();
        self.decoder.decode_into(&self.features, &PromptBatch::default(), true, &mut scratch).map_err(|e| run(&e))?;
        Ok(t0.elapsed())
    }

    /// How many streams of this process use this segmenter's loaded model (itself
    /// included): streams on the CPU provider with the same bundle and threads share one.
    pub fn engine_users(&self) -> usize {
        self.share.as_ref().map_or(1, EngineShare::users)
    }

    /// Reads [`engine_users`](Self::engine_users) from elsewhere without holding the model;
    /// `None` when the engines are this segmenter's own.
    pub fn engine_watch(&self) -> Option<EngineWatch> {
        self.share.as_ref().map(EngineShare::watch)
    }

    /// Moves last frame's masks to the spare pool so their allocations are reused.
    fn recycle_objects(&mut self) {
        for o in self.result.objects.drain(..) {
            self.spare_masks.push(o.mask);
        }
    }

    /// Forgets all targets (flush, new stream). Track ids keep increasing. A frame being
    /// encoded ahead is left alone: finish or discard it first.
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.recycle_objects();
    }

    /// The tracker, to add or remove user-given targets or change thresholds.
    pub fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    pub fn bundle_name(&self) -> &str {
        &self.bundle_name
    }

    /// Directory the bundle was loaded from.
    pub fn bundle_dir(&self) -> &std::path::Path {
        &self.bundle_dir
    }

    /// Whether frames without detection run the bundle's prompt-only decoder.
    pub fn prompt_only_decoder(&self) -> bool {
        self.decoder.prompt_only()
    }

    /// The most targets the decoder takes in one batch (the bundle's `max_prompts`).
    pub fn max_prompts(&self) -> usize {
        self.max_prompts
    }

    /// Model input size (width, height): user prompts are given in these pixels.
    pub fn input_size(&self) -> (usize, usize) {
        self.input
    }

    /// The class vocabulary in use (class ids index it).
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Replaces the class vocabulary (empty: the bundle's). Names outside the bundle's
    /// vocabulary are embedded with its text encoder; on error nothing changes.
    pub fn set_vocabulary(&mut self, names: &[String]) -> Result<(), SegmenterError> {
        self.vocab = self.open_vocab.select(names).map_err(SegmenterError::Run)?;
        Ok(())
    }

    /// Adds a text target (see `tracker::text`: it starts on the next detection frame with
    /// a detection of a class close to the text). Returns its reserved track id.
    pub fn add_text_target(&mut self, text: &str) -> Result<u64, SegmenterError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SegmenterError::Run("text target: the text is empty".into()));
        }
        let emb = self.open_vocab.embed(&[text]).map_err(SegmenterError::Run)?.remove(0);
        self.tracker.add_text_target(emb, TEXT_SYNONYM_COSINE).map_err(SegmenterError::Run)
    }

    /// Text embeddings of `texts` from the bundle's text encoder (opened on first use).
    pub fn embed_text(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SegmenterError> {
        self.open_vocab.embed(texts).map_err(SegmenterError::Run)
    }

    /// Set when a GPU provider was asked for but the CUDA pre/post kernels could not be
    /// loaded (the cause is in the text); the element posts it as a warning.
    pub fn gpu_warning(&self) -> Option<&str> {
        self.gpu_warning.as_deref()
    }

    /// Whether the bundle has a text encoder (new names and text targets need it).
    pub fn has_text_encoder(&self) -> bool {
        self.open_vocab.has_text_encoder()
    }

    /// The bundle's own vocabulary (`vocabulary.json`), whatever the current one is.
    pub fn bundle_vocabulary(&self) -> &Vocabulary {
        self.open_vocab.bundle_vocabulary()
    }

    /// Output mask size setting (`None`: each frame's size).
    pub fn set_mask_size(&mut self, size: Option<(usize, usize)>) {
        self.mask_size = size.filter(|&(w, h)| w > 0 && h > 0);
    }
}

/// GPU pre/post kernels for a GPU provider, when CUDA and NVRTC are present. The model
/// itself never falls back (that is the provider's job); these kernels' CPU twins give the
/// same result, so their absence is not an error, but a GPU user asked for the GPU: it is a
/// warning naming the cause (returned, so the element can post it), never silent.
fn gpu_kernels(provider: Provider) -> (Option<GpuKernels>, Option<String>) {
    if provider == Provider::Cpu {
        return (None, None);
    }
    match GpuKernels::new(0) {
        Ok(k) => (Some(k), None),
        Err(e) => {
            let why = format!(
                "provider {provider}: CUDA pre/post-processing kernels unavailable ({e}); using their CPU twins (same results, slower)"
            );
            tracing::warn!("{why}");
            (None, Some(why))
        }
    }
}

fn no_encoder() -> SegmenterError {
    SegmenterError::Run("the image encoder is gone (its thread stopped)".into())
}

fn object_of(t: &Track, vocab: &Vocabulary, bbox: BBox, mask: Mask) -> ObjectResult {
    let label = vocab.names.get(t.class_id).cloned().unwrap_or_else(|| format!("class{}", t.class_id));
    ObjectResult { track_id: t.id, class_id: t.class_id, label, score: t.score, bbox, mask }
}

fn check_threads(t: &Threads) -> Result<(), SegmenterError> {
    let max = crate::runtime::MAX_INTRA_THREADS;
    for (what, n) in [("threads", t.intra), ("encoder threads", t.encoder.unwrap_or(0))] {
        if n > max {
            return Err(SegmenterError::Load(format!("{what} {n} is outside 0..={max}")));
        }
    }
    Ok(())
}

/// The tracker's prompt batch (P = targets, T = tokens per target) must fit the decoder's
/// declared bounds; checked at open so a bad setting fails at the state change, not mid-stream.
fn check_tracker_fits(cfg: &crate::tracker::TrackerConfig, bundle: &Bundle) -> Result<(), SegmenterError> {
    cfg.validate().map_err(SegmenterError::Load)?;
    let m = &bundle.manifest.model;
    let tokens = cfg.tokens_per_target();
    if tokens > m.max_prompt_tokens {
        return Err(SegmenterError::Load(format!(
            "tracker: (memory_frames + 1) * tokens_per_frame = {tokens} exceeds bundle `{}` max_prompt_tokens = {}",
            bundle.name(),
            m.max_prompt_tokens
        )));
    }
    if cfg.max_targets > m.max_prompts {
        return Err(SegmenterError::Load(format!(
            "tracker: max_targets = {} exceeds bundle `{}` max_prompts = {}",
            cfg.max_targets,
            bundle.name(),
            m.max_prompts
        )));
    }
    Ok(())
}

// The GStreamer element keeps the segmenter in its streaming state: it must be Send.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Segmenter>();
};

#[cfg(test)]
mod gpu_tests {
    use super::*;

    #[test]
    fn a_gpu_provider_without_cuda_kernels_gets_a_warning_naming_the_cause() {
        let (kernels, warning) = gpu_kernels(Provider::Cpu);
        assert!(kernels.is_none() && warning.is_none(), "the CPU provider never asks for CUDA");
        if crate::kernels::cuda::driver_available() {
            return; // a machine with a CUDA driver: nothing to warn about, maybe
        }
        let (kernels, warning) = gpu_kernels(Provider::Cuda);
        assert!(kernels.is_none());
        let w = warning.expect("no libcuda here: a warning, not silence");
        assert!(w.contains("provider cuda") && w.contains("libcuda is not available") && w.contains("CPU twins"), "{w}");
    }
}
