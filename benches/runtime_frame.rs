//! Per-frame cost of each runtime stage on the default bundle (engines/tiny), CPU provider.
//! Prints ms/frame; no assertions (speed is measured, never asserted).
//! Run: `cargo bench -p segstream --bench runtime_frame`
use std::path::PathBuf;
use std::time::Instant;

use segstream::bundle::Bundle;
use segstream::kernels::{MaskUpsampler, Preprocessor};
use segstream::mask::Mask;
use segstream::model::{Features, PromptBatch};
use segstream::runtime::{backend_for, Provider};
use segstream::segmenter::{FrameRef, PixelFormat, Segmenter, SegmenterSettings};
use segstream::tensor::Tensor;

const WARMUP: usize = 5;

/// Mean milliseconds per call of `f` over `n` calls after a warm-up.
fn time(name: &str, n: usize, mut f: impl FnMut()) {
    for _ in 0..WARMUP {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!("{name:<60} {ms:>9.3} ms/frame  ({n} frames)");
}

fn frame_bytes(format: PixelFormat, w: usize, h: usize) -> (Vec<Vec<u8>>, [usize; 3]) {
    let fill = |n: usize, k: usize| (0..n).map(|i| ((i * k) % 251) as u8).collect::<Vec<u8>>();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        PixelFormat::Rgb => (vec![fill(w * h * 3, 7)], [w * 3, 0, 0]),
        PixelFormat::Rgba | PixelFormat::Bgrx => (vec![fill(w * h * 4, 7)], [w * 4, 0, 0]),
        PixelFormat::I420 => (vec![fill(w * h, 3), fill(cw * ch, 5), fill(cw * ch, 11)], [w, cw, cw]),
        PixelFormat::Nv12 => (vec![fill(w * h, 3), fill(cw * ch * 2, 5)], [w, cw * 2, 0]),
    }
}

fn frame<'a>(format: PixelFormat, w: usize, h: usize, planes: &'a [Vec<u8>], strides: [usize; 3]) -> FrameRef<'a> {
    let p = |i: usize| planes.get(i).map(Vec::as_slice).unwrap_or(&[]);
    FrameRef { format, width: w, height: h, planes: [p(0), p(1), p(2)], strides }
}

fn main() {
    let dir = std::env::var_os("SEGSTREAM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engines/tiny"));
    let bundle = Bundle::load(&dir).expect("bundle");
    let i = &bundle.manifest.input;
    let m = &bundle.manifest.model;
    println!("bundle {} ({}x{}, C={}, N={}), provider cpu", bundle.name(), i.width, i.height, m.hidden_dim, m.num_queries);

    let mut pre = Preprocessor::new(i.width, i.height, i.mean, i.std);
    let mut image = Tensor::default();
    for (format, w, h) in [(PixelFormat::I420, 320, 240), (PixelFormat::Rgba, 1280, 720), (PixelFormat::Nv12, 1920, 1080)] {
        let (planes, strides) = frame_bytes(format, w, h);
        let f = frame(format, w, h, &planes, strides);
        time(&format!("preprocess {format:?} {w}x{h}"), 200, || pre.run(&f, &mut image).unwrap());
    }

    let mut engines = backend_for(Provider::Cpu).open(&bundle).expect("engines");
    let mut feats = Features::default();
    time("encoder", 50, || engines.encoder.encode(&image, &mut feats).unwrap());
    let empty = PromptBatch::default();
    time("decoder, detect, no prompts", 50, || {
        engines.decoder.decode(&feats, &empty, true).unwrap();
    });
    let t = m.max_prompt_tokens;
    let prompts = PromptBatch {
        tokens: Tensor { shape: vec![8, t, m.hidden_dim], data: vec![0.1; 8 * t * m.hidden_dim] },
        valid: Tensor { shape: vec![8, t], data: vec![1.0; 8 * t] },
    };
    time(&format!("decoder, detect + 8 prompts x {t} tokens"), 50, || {
        engines.decoder.decode(&feats, &prompts, true).unwrap();
    });

    let mut up = MaskUpsampler::new();
    let mut mask = Mask::default();
    let (w4, h4) = (i.width / 4, i.height / 4);
    // A typical object (disc of radius w4/6 cells) and a worst case (positive cells everywhere).
    let disc: Vec<f32> = (0..w4 * h4)
        .map(|k| {
            let (x, y) = ((k % w4) as f32 - w4 as f32 / 3.0, (k / w4) as f32 - h4 as f32 / 2.0);
            w4 as f32 / 6.0 - (x * x + y * y).sqrt()
        })
        .collect();
    let everywhere: Vec<f32> = (0..w4 * h4).map(|k| ((k % 17) as f32) - 8.0).collect();
    for (name, logits) in [("disc object", &disc), ("positive cells everywhere", &everywhere)] {
        for (w, h) in [(320, 240), (1920, 1080)] {
            time(&format!("postprocess 1 mask ({name}) -> {w}x{h}"), 100, || {
                up.run(logits, (w4, h4), (w, h), &mut mask);
            });
        }
    }

    let settings = SegmenterSettings { model: Some(dir.clone()), ..Default::default() };
    let mut seg = Segmenter::open(&settings).expect("segmenter");
    let (planes, strides) = frame_bytes(PixelFormat::I420, 320, 240);
    let f = frame(PixelFormat::I420, 320, 240, &planes, strides);
    let mut n = 0u64;
    let mut objects = 0usize;
    time("Segmenter::process I420 320x240 (all stages)", 50, || {
        objects += seg.process(&f, n).unwrap().objects.len();
        n += 1;
    });
    println!("(objects per frame on this synthetic frame: {:.1})", objects as f64 / n as f64);
}
