//! A SCRIPTED FAKE DECODER for unit tests (no model can run in a unit test).
//!
//! The script lists, per frame, objects with a rectangle (at mask-feature resolution), an
//! association embedding and a class. The fake encoder writes `100 * key` into channel 0 of
//! `feat_s8` at every cell inside an object, so a prompt token sampled from an object's mask
//! carries its key (token = feature + pe, |pe| <= 1). The fake decoder answers a prompt
//! with the object whose key most of the prompt's valid tokens carry (a perfect
//! re-identifying model), and detections with every object marked `detect`.
use crate::model::{DecoderOutput, Features, MaskDecoder, ModelError, PromptBatch, QueryOutputs};
use crate::tensor::Tensor;
use crate::vocab::Vocabulary;

pub const W4: usize = 32;
pub const C: usize = 8;
pub const E: usize = 4;
pub const D: usize = 4;
pub const N: usize = 8;

#[derive(Debug, Clone)]
pub struct Obj {
    pub key: u32,
    /// x0, y0, x1, y1 (exclusive) at mask-feature resolution (32 x 32).
    pub rect: (usize, usize, usize, usize),
    pub emb: [f32; E],
    pub class: usize,
    /// Seen by the learnable queries.
    pub detect: bool,
    /// Embedding the prompt query outputs instead of `emb` (simulates drift).
    pub prompt_emb: Option<[f32; E]>,
    /// Embedding the detection outputs instead of `emb`.
    pub det_emb: Option<[f32; E]>,
    /// Mask logit inside the rectangle (5 unless set).
    pub peak: f32,
    /// Cells around the rectangle at logit -0.5: outside the mask but inside the
    /// quality's `logit > -1` support, so q = #(logit > 1) / #(logit > -1) drops (a small,
    /// blurry-edged mask).
    pub halo: usize,
    /// A second rectangle the object's output masks also cover, at a lower logit (a query
    /// that segments a look-alike twin too, less surely); its features are not the object's.
    pub twin: Option<(usize, usize, usize, usize)>,
}

pub fn obj(key: u32, rect: (usize, usize, usize, usize), emb: [f32; E]) -> Obj {
    Obj { key, rect, emb, class: (key as usize) % D, detect: true, prompt_emb: None, det_emb: None, peak: 5.0, halo: 0, twin: None }
}

/// One-hot-ish unit embedding along axis k (k < E), optionally mixed with axis k2.
pub fn axis(k: usize) -> [f32; E] {
    let mut e = [0.0; E];
    e[k % E] = 1.0;
    e
}

pub fn vocab() -> Vocabulary {
    let mut emb = vec![0.0; D * D];
    for k in 0..D {
        emb[k * D + k] = 1.0;
    }
    Vocabulary::new((0..D).map(|k| format!("c{k}")).collect(), emb, D, 10.0)
}

/// Features of frame `t` of the script (frame index in s32.data[0]).
pub fn features(t: usize, objs: &[Obj]) -> Features {
    let h8 = W4 / 2;
    let mut s8 = Tensor::zeros(&[C, h8, h8]);
    for o in objs {
        for i in 0..h8 {
            for j in 0..h8 {
                let (cx, cy) = (2 * j + 1, 2 * i + 1); // cell centre in mask pixels
                if inside(o, cx, cy) {
                    s8.data[i * h8 + j] = 100.0 * o.key as f32;
                }
            }
        }
    }
    Features {
        s8,
        s16: Tensor::zeros(&[C, 8, 8]),
        s32: Tensor { shape: vec![1], data: vec![t as f32] },
        mask_feat: Tensor::zeros(&[C, W4, W4]),
        class_feat: Tensor::default(),
        device: None,
    }
}

fn inside(o: &Obj, x: usize, y: usize) -> bool {
    in_rect(o.rect, x, y)
}

fn in_rect(r: (usize, usize, usize, usize), x: usize, y: usize) -> bool {
    x >= r.0 && x < r.2 && y >= r.1 && y < r.3
}

fn in_halo(o: &Obj, x: usize, y: usize) -> bool {
    let h = o.halo;
    x + h >= o.rect.0 && x < o.rect.2 + h && y + h >= o.rect.1 && y < o.rect.3 + h
}

/// Decoder log entry: (number of prompts, valid tokens per prompt, detect flag).
pub type Call = (usize, Vec<usize>, bool);

pub struct FakeDecoder {
    pub script: Vec<Vec<Obj>>,
    pub calls: Vec<Call>,
    /// Keep only the last call (long runs).
    pub log_last_only: bool,
    /// Largest distance of a valid token's channel 0 from its key's 100 * key: 0 when the
    /// tokens are the feature cells as they are (contract v2 gather), up to 1 with the sine
    /// encoding added.
    pub max_token_offset: f32,
}

impl FakeDecoder {
    pub fn new(script: Vec<Vec<Obj>>) -> Self {
        FakeDecoder { script, calls: Vec::new(), log_last_only: false, max_token_offset: 0.0 }
    }
}

fn write_obj(q: &mut QueryOutputs, row: usize, o: Option<&Obj>, emb: Option<[f32; E]>) {
    let n = W4 * W4;
    for p in 0..n {
        let (x, y) = (p % W4, p / W4);
        q.mask_logits.data[row * n + p] = match o {
            Some(o) if inside(o, x, y) => o.peak,
            Some(o) if o.twin.is_some_and(|r| in_rect(r, x, y)) => 0.6 * o.peak,
            Some(o) if in_halo(o, x, y) => -0.5,
            _ => -5.0,
        };
    }
    let e = emb.unwrap_or([0.0; E]);
    q.assoc_emb.data[row * E..(row + 1) * E].copy_from_slice(&e);
    for k in 0..D {
        q.class_emb.data[row * D + k] = o.map_or(0.0, |o| (o.class == k) as u8 as f32);
    }
    q.quality.data[row] = o.is_some() as u8 as f32;
}

fn group(n: usize) -> QueryOutputs {
    QueryOutputs {
        mask_logits: Tensor::zeros(&[n, W4, W4]),
        class_emb: Tensor::zeros(&[n, D]),
        assoc_emb: Tensor::zeros(&[n, E]),
        quality: Tensor::zeros(&[n]),
    }
}

/// Majority key of a prompt row's valid tokens (0 = none).
fn prompt_key(prompts: &PromptBatch, p: usize) -> (u32, usize) {
    let t_len = prompts.valid.shape[1];
    let c = prompts.tokens.shape[2];
    let mut votes = std::collections::BTreeMap::<u32, usize>::new();
    let mut valid = 0;
    for t in 0..t_len {
        if prompts.valid.data[p * t_len + t] > 0.5 {
            valid += 1;
            let key = (prompts.tokens.data[(p * t_len + t) * c] / 100.0).round() as u32;
            if key > 0 {
                *votes.entry(key).or_default() += 1;
            }
        }
    }
    let key = votes.into_iter().max_by_key(|&(k, v)| (v, std::cmp::Reverse(k))).map_or(0, |kv| kv.0);
    (key, valid)
}

impl MaskDecoder for FakeDecoder {
    fn decode_into(&mut self, f: &Features, prompts: &PromptBatch, detect: bool, dst: &mut DecoderOutput) -> Result<(), ModelError> {
        let t = f.s32.data[0] as usize;
        let objs = &self.script[t];
        let p = prompts.num_prompts();
        let mut out = DecoderOutput { detections: QueryOutputs::default(), prompts: group(p) };
        let mut valid = Vec::new();
        let (t_len, c) = (prompts.valid.shape.get(1).copied().unwrap_or(0), prompts.tokens.shape.get(2).copied().unwrap_or(1));
        for (k, &v) in prompts.valid.data.iter().enumerate().take(p * t_len) {
            if v > 0.5 {
                let ch0 = prompts.tokens.data[k * c];
                self.max_token_offset = self.max_token_offset.max((ch0 - 100.0 * (ch0 / 100.0).round()).abs());
            }
        }
        for row in 0..p {
            let (key, v) = prompt_key(prompts, row);
            valid.push(v);
            let o = objs.iter().find(|o| o.key == key);
            write_obj(&mut out.prompts, row, o, o.map(|o| o.prompt_emb.unwrap_or(o.emb)));
        }
        if detect {
            out.detections = group(N);
            for (row, o) in objs.iter().filter(|o| o.detect).take(N).enumerate() {
                write_obj(&mut out.detections, row, Some(o), Some(o.det_emb.unwrap_or(o.emb)));
            }
        }
        if self.log_last_only {
            self.calls.clear();
        }
        self.calls.push((p, valid, detect));
        *dst = out;
        Ok(())
    }
}
