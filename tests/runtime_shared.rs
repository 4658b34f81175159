//! One loaded CPU engine per bundle and threads, shared by every stream of the process:
//! who shares (same files and threads), who does not (another copy of the bundle, other
//! threads), when it is released (the last user drops it), and that streams running on
//! the shared sessions at the same time get exactly what each gets alone.
mod runtime_common;

use runtime_common::make_bundle;
use segstream::bundle::Bundle;
use segstream::model::{DecoderOutput, Features, PromptBatch};
use segstream::runtime::{backend_with, EngineOptions, Engines, Provider, Threads};
use segstream::tensor::Tensor;

fn open(bundle: &Bundle, intra: usize) -> Engines {
    backend_with(EngineOptions { provider: Provider::Cpu, threads: Threads::intra(intra), ..Default::default() }).open(bundle).unwrap()
}

fn image(seed: usize) -> Tensor {
    let mut t = Tensor::zeros(&[1, 3, 64, 64]);
    for (i, v) in t.data.iter_mut().enumerate() {
        *v = (((i + 31 * seed) % 89) as f32 / 89.0) - 0.5;
    }
    t
}

fn prompts(features: &Features) -> PromptBatch {
    let c = features.s8.shape[0];
    let mut b = PromptBatch { tokens: Tensor::zeros(&[2, 4, c]), valid: Tensor::zeros(&[2, 4]) };
    for (d, s) in b.tokens.data.iter_mut().zip(features.s8.data.iter().cycle()) {
        *d = *s;
    }
    b.valid.data.fill(1.0);
    b
}

/// `frames` frames through one stream's engines: every output value, in order.
fn stream(engines: &mut Engines, seed: usize, frames: usize) -> Vec<f32> {
    let (mut f, mut out, mut all) = (Features::default(), DecoderOutput::default(), Vec::new());
    for k in 0..frames {
        engines.encoder.encode(&image(seed * 100 + k), &mut f).unwrap();
        let p = prompts(&f);
        engines.decoder.decode_into(&f, &p, k % 2 == 0, &mut out).unwrap();
        all.extend_from_slice(&f.mask_feat.data);
        all.extend_from_slice(&out.prompts.mask_logits.data);
        all.extend_from_slice(&out.detections.quality.data);
    }
    all
}

#[test]
fn same_bundle_and_threads_share_one_engine_until_the_last_user_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Bundle::load(&make_bundle(dir.path(), &[])).unwrap();
    let a = open(&bundle, 1);
    assert_eq!(a.users(), 1);
    let b = open(&Bundle::load(dir.path()).unwrap(), 1);
    assert_eq!((a.users(), b.users()), (2, 2), "a second stream on the same bundle shares the engine");
    let other_threads = open(&bundle, 2);
    assert_eq!(other_threads.users(), 1, "other threads: another engine");
    let copy = tempfile::tempdir().unwrap();
    let copy_bundle = Bundle::load(&make_bundle(copy.path(), &[])).unwrap();
    let c = open(&copy_bundle, 1);
    assert_eq!((c.users(), a.users()), (1, 2), "another copy of the files: another engine");
    let watch = a.share.as_ref().unwrap().watch();
    drop(b);
    assert_eq!((a.users(), watch.users()), (1, 1));
    drop(a);
    assert_eq!(watch.users(), 0, "released with its last user");
    let again = open(&bundle, 1);
    assert_eq!(again.users(), 1, "the next start loads it anew");
}

#[test]
fn streams_running_at_once_on_shared_sessions_get_what_each_gets_alone() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = Bundle::load(&make_bundle(dir.path(), &[])).unwrap();
    let alone: Vec<Vec<f32>> = (0..3).map(|s| stream(&mut open(&bundle, 1), s, 6)).collect();
    let mut engines: Vec<Engines> = (0..3).map(|_| open(&bundle, 1)).collect();
    assert!(engines.iter().all(|e| e.users() == 3));
    let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let runs: Vec<_> = engines.iter_mut().enumerate().map(|(s, e)| scope.spawn(move || stream(e, s, 6))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (s, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert!(!a.is_empty());
        assert_eq!(a, t, "stream {s}: concurrent runs on one session change nothing");
    }
    assert_ne!(alone[0], alone[1], "different inputs, different outputs: the comparison can fail");
}

#[test]
fn a_stream_sharing_a_loaded_engine_still_has_its_manifest_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = make_bundle(dir.path(), &[]);
    let running = open(&Bundle::load(&d).unwrap(), 1);
    let toml = std::fs::read_to_string(d.join("bundle.toml")).unwrap();
    // Same ONNX files, but the manifest now claims a 96 px wide input (sizes consistent).
    let edited = toml.replace("width = 64", "width = 96").replace("[1, 3, 64, 64]", "[1, 3, 64, 96]");
    let edited = edited.replace(", 16, 16]", ", 16, 24]").replace(", 8, 8]", ", 8, 12]");
    let edited = edited.replace(", 4, 4]", ", 4, 6]").replace(", 2, 2]", ", 2, 3]");
    std::fs::write(d.join("bundle.toml"), edited).unwrap();
    let edited = Bundle::load(&d).unwrap();
    let e = backend_with(Provider::Cpu.into()).open(&edited).err().expect("the edited manifest must not match").to_string();
    assert_eq!(e, "image_encoder.onnx: input `image` has shape [1, 3, 64, 64], manifest says [1, 3, 64, 96]");
    assert_eq!(running.users(), 1, "the refused stream holds nothing");
}
