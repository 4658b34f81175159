//! Steady-state streaming must not allocate large buffers: after warm-up, preprocessing,
//! the encoder (IoBinding with preallocated tensors) and mask postprocessing allocate
//! nothing of 16 KiB or more per frame. Counted with a wrapping global allocator, so this
//! sees Rust-side buffers; ONNX Runtime's internal memory comes from its own arena.
//! (The decoder is not covered: `MaskDecoder::decode` returns owned outputs by design.)
mod runtime_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use runtime_common::{picture, tiny};
use segstream::bundle::Bundle;
use segstream::kernels::{MaskUpsampler, Preprocessor};
use segstream::mask::Mask;
use segstream::model::Features;
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
fn warm_preprocess_encoder_and_postprocess_allocate_no_large_buffers() {
    let bundle = Bundle::load(&tiny()).unwrap();
    let i = &bundle.manifest.input;
    let mut pre = Preprocessor::new(i.width, i.height, i.mean, i.std);
    let mut engines = backend_for(Provider::Cpu).open(&bundle).unwrap();
    let (mut image, mut feats) = (Tensor::default(), Features::default());
    let mut up = MaskUpsampler::new();
    let mut mask = Mask::default();
    let frames: Vec<_> = (0..4).map(|k| picture(PixelFormat::I420, 640, 360, 20 * k)).collect();
    let mut step = |k: usize| {
        pre.run(&frames[k % frames.len()].frame(), &mut image).unwrap();
        engines.encoder.encode(&image, &mut feats).unwrap();
        let logits = &feats.mask_feat.data[..(i.width / 4) * (i.height / 4)];
        up.run(logits, (i.width / 4, i.height / 4), (640, 360), &mut mask);
    };
    for k in 0..3 {
        step(k);
    }
    // The check must be able to fail: a 64 KiB vector while armed is counted.
    ARMED.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 65536]));
    assert_eq!(LARGE_ALLOCS.swap(0, Ordering::SeqCst), 1);
    for k in 3..13 {
        step(k);
    }
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(LARGE_ALLOCS.load(Ordering::SeqCst), 0, "large allocations in 10 warm frames");
    assert!(mask.width == 640 && feats.mask_feat.data.iter().all(|v| v.is_finite()));
}
