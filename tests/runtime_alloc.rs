//! Steady-state streaming must not allocate large buffers: after warm-up, preprocessing,
//! the encoder (preallocated input and output tensors), the decoder (`decode_into` a reused
//! output, with and without detection) and mask postprocessing allocate nothing of 16 KiB
//! or more per frame. Counted with a wrapping global allocator, so this sees Rust-side
//! buffers; ONNX Runtime's internal memory comes from its own arena.
mod runtime_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use runtime_common::{picture, tiny};
use segstream::bundle::Bundle;
use segstream::kernels::{MaskUpsampler, Preprocessor};
use segstream::mask::Mask;
use segstream::model::{DecoderOutput, Features, PromptBatch};
use segstream::runtime::{backend_for, Provider};
use segstream::segmenter::PixelFormat;
use segstream::tensor::Tensor;

const LARGE: usize = 16 * 1024;

struct Counting;
static ARMED: AtomicBool = AtomicBool::new(false);
static LARGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) && layout.size() >= LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) && new_size >= LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warm_preprocess_encoder_decoder_and_postprocess_allocate_no_large_buffers() {
    let bundle = Bundle::load(&tiny()).unwrap();
    let i = &bundle.manifest.input;
    let mut pre = Preprocessor::new(i.width, i.height, i.mean, i.std);
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let (mut image, mut feats) = (Tensor::default(), Features::default());
    let mut up = MaskUpsampler::new();
    let mut mask = Mask::default();
    let (p, t, c) = (4, bundle.manifest.model.max_prompt_tokens, bundle.manifest.model.hidden_dim);
    let mut prompts = PromptBatch { tokens: Tensor::zeros(&[p, t, c]), valid: Tensor::zeros(&[p, t]) };
    prompts.valid.data.fill(1.0);
    let mut decoded = DecoderOutput::default();
    let frames: Vec<_> = (0..4).map(|k| picture(PixelFormat::I420, 640, 360, 20 * k)).collect();
    let mut step = |k: usize| {
        pre.run(&frames[k % frames.len()].frame(), &mut image).unwrap();
        engines.encoder.encode(&image, &mut feats).unwrap();
        for (d, s) in prompts.tokens.data.iter_mut().zip(feats.s8.data.iter().cycle()) {
            *d = *s;
        }
        // Detection on every other frame: rows go 0 -> 24 -> 0 in the reused buffers.
        engines.decoder.decode_into(&feats, &prompts, k.is_multiple_of(2), &mut decoded).unwrap();
        let logits = &decoded.prompts.mask_logits.data[..(i.width / 4) * (i.height / 4)];
        up.run(logits, (i.width / 4, i.height / 4), (640, 360), &mut mask);
    };
    for k in 0..3 {
        step(k);
    }
    // The check must be able to fail: a 64 KiB vector while armed is counted.
    ARMED.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 65536]));
    assert_eq!(LARGE_ALLOCS.swap(0, Ordering::SeqCst), 1);
    for k in 3..14 {
        step(k);
    }
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(LARGE_ALLOCS.load(Ordering::SeqCst), 0, "large allocations in 11 warm frames");
    assert!(mask.width == 640 && feats.mask_feat.data.iter().all(|v| v.is_finite()));
    assert_eq!(decoded.prompts.len(), p);
    assert_eq!(decoded.detections.len(), 0, "frame 13 decoded without detection");
}
