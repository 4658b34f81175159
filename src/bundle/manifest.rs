//! `bundle.toml`: the manifest of an engine bundle (engines/CONTRACT.md).
//!
//! Parsed with serde; [`Manifest::check`] verifies the manifest is self-consistent
//! (symbols declared, contract tensors present with the sizes of `[input]`/`[model]`)
//! before any ONNX file is opened, so a typo is reported as a manifest error.
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub bundle: BundleInfo,
    pub input: InputSpec,
    pub model: ModelSpec,
    pub files: Files,
    #[serde(default)]
    pub tensors: Vec<TensorSpec>,
    /// Dynamic symbol -> [min, opt, max] (a TensorRT optimisation profile).
    #[serde(default)]
    pub dynamic: BTreeMap<String, [i64; 3]>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BundleInfo {
    pub name: String,
    pub family: String,
    /// "random" or "trained".
    pub weights: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub width: usize,
    pub height: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub hidden_dim: usize,
    pub num_queries: usize,
    pub class_dim: usize,
    pub assoc_dim: usize,
    pub mask_stride: usize,
    pub max_prompts: usize,
    pub max_prompt_tokens: usize,
    pub logit_scale: f32,
    /// Contract version: 1 (default) or 2 (adds `prompt_encoding` and `token_dim`).
    #[serde(default = "contract_v1")]
    pub contract: u32,
    /// How the runtime turns feature cells into prompt tokens (contract v2).
    #[serde(default)]
    pub prompt_encoding: PromptEncoding,
    /// Width of a prompt token and of `feat_s8` with `prompt_encoding = "gather"`.
    #[serde(default)]
    pub token_dim: Option<usize>,
}

fn contract_v1() -> u32 {
    1
}

/// Contract v1's sampler adds our sine encoding to `feat_s8` at the cell; contract v2's
/// `gather` copies the cell's `token_dim` channels as they are: the encoder puts whatever
/// the model's own sampler reads there (UniVS: the 1/8 features and their positional
/// encoding, concatenated), so the runtime needs no formula of the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptEncoding {
    #[default]
    Sine,
    Gather,
}

impl ModelSpec {
    /// Width of a prompt token, which is also the channel count of `feat_s8`.
    pub fn token_dim(&self) -> usize {
        self.token_dim.unwrap_or(self.hidden_dim)
    }

    /// Channels of one encoder output / decoder feature input.
    pub fn feature_channels(&self, name: &str) -> usize {
        if name == "feat_s8" {
            self.token_dim()
        } else {
            self.hidden_dim
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    pub image_encoder: String,
    pub mask_decoder: String,
    /// Optional: the mask decoder without the learnable queries (same inputs, `prompt_*`
    /// outputs only), run on frames without detection (`engines/tools/prompt_only_decoder.py`).
    pub prompt_decoder: Option<String>,
    pub vocabulary: String,
    pub text_encoder: Option<String>,
    pub tokenizer: Option<String>,
}

impl Files {
    /// Every `[files]` key with its file name (optional keys only when given).
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![("image_encoder", self.image_encoder.as_str()), ("mask_decoder", self.mask_decoder.as_str())];
        v.extend(self.prompt_decoder.as_deref().map(|f| (PROMPT_DECODER, f)));
        v.push(("vocabulary", self.vocabulary.as_str()));
        v.extend(self.text_encoder.as_deref().map(|f| ("text_encoder", f)));
        v.extend(self.tokenizer.as_deref().map(|f| ("tokenizer", f)));
        v
    }

    /// File name of one `[files]` key (`None`: unknown key or optional file not given).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries().into_iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }
}

/// A `[files]` name must stay inside the bundle directory: the manifest may come from
/// anywhere, and `vocabulary = "/etc/passwd"` must not make the loader read that file.
fn check_file_name(key: &str, name: &str) -> Result<(), String> {
    use std::path::Component;
    let bad = |why: &str| Err(format!("[files] {key} = {name:?} {why}: files must be relative paths inside the bundle directory"));
    if name.trim().is_empty() {
        return bad("is empty");
    }
    for c in std::path::Path::new(name).components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return bad("is an absolute path"),
            Component::ParentDir => return bad("leaves the bundle directory with `..`"),
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Io {
    Input,
    Output,
}

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Io::Input => "input",
            Io::Output => "output",
        })
    }
}

/// One dimension: a fixed size or a symbol declared in `[dynamic]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    Symbol(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Key in `[files]`: `image_encoder`, `mask_decoder`, `prompt_decoder` or `text_encoder`.
    pub file: String,
    pub io: Io,
    pub name: String,
    /// `f32` or `i64`.
    pub dtype: String,
    pub shape: Vec<Dim>,
}

/// Formats a shape as `[1, P, 32]`.
pub fn shape_string(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        m.check()?;
        Ok(m)
    }

    /// Declared tensors of one file and direction, in manifest order.
    pub fn tensors_of<'a>(&'a self, file: &'a str, io: Io) -> impl Iterator<Item = &'a TensorSpec> + 'a {
        self.tensors.iter().filter(move |t| t.file == file && t.io == io)
    }

    pub fn tensor<'a>(&'a self, file: &'a str, io: Io, name: &str) -> Option<&'a TensorSpec> {
        self.tensors_of(file, io).find(|t| t.name == name)
    }

    /// Self-consistency; errors are prefixed by the caller with the manifest path.
    pub fn check(&self) -> Result<(), String> {
        for (key, name) in self.files.entries() {
            check_file_name(key, name)?;
        }
        self.check_sizes()?;
        self.check_dynamic()?;
        for t in &self.tensors {
            self.check_tensor(t)?;
        }
        self.check_contract_tensors()?;
        self.check_prompt_ranges()
    }

    /// The declared P/T ranges must admit the bounds the runtime will actually use.
    fn check_prompt_ranges(&self) -> Result<(), String> {
        let limits = [(0, self.model.max_prompts, "max_prompts"), (1, self.model.max_prompt_tokens, "max_prompt_tokens")];
        for (axis, limit, key) in limits {
            let d = self.prompt_dim(axis);
            let [_, _, max] = self.dim_range(&d).unwrap_or([0; 3]);
            if max < limit as i64 {
                return Err(format!("prompt axis `{d}` allows at most {max}, but [model] {key} = {limit}"));
            }
        }
        Ok(())
    }

    fn check_sizes(&self) -> Result<(), String> {
        let (w, h, s) = (self.input.width, self.input.height, self.model.mask_stride);
        if w == 0 || h == 0 || w % 32 != 0 || h % 32 != 0 {
            return Err(format!("[input] width/height must be positive multiples of 32, got {w}x{h}"));
        }
        if s != 4 {
            return Err(format!("[model] mask_stride must be 4 (contract v1), got {s}"));
        }
        // `!(v > 0.0)` also refuses NaN, which TOML can spell and which would turn every
        // pixel into NaN.
        if self.input.std.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(format!("[input] std values must be finite and > 0, got {:?}", self.input.std));
        }
        if self.input.mean.iter().any(|v| !v.is_finite()) {
            return Err(format!("[input] mean values must be finite, got {:?}", self.input.mean));
        }
        if !(self.model.logit_scale > 0.0 && self.model.logit_scale.is_finite()) {
            return Err(format!("[model] logit_scale must be finite and > 0, got {}", self.model.logit_scale));
        }
        if self.model.max_prompts == 0 || self.model.max_prompt_tokens == 0 {
            return Err("[model] max_prompts and max_prompt_tokens must be >= 1".into());
        }
        self.check_contract_version()
    }

    fn check_contract_version(&self) -> Result<(), String> {
        let m = &self.model;
        match (m.contract, m.prompt_encoding, m.token_dim) {
            (1 | 2, PromptEncoding::Sine, None) => Ok(()),
            (2, PromptEncoding::Gather, Some(d)) if d >= 1 => Ok(()),
            (1, _, _) => Err("[model] prompt_encoding / token_dim need contract = 2".into()),
            (2, PromptEncoding::Gather, _) => Err("[model] prompt_encoding = \"gather\" needs token_dim >= 1".into()),
            (2, PromptEncoding::Sine, Some(_)) => Err("[model] token_dim is only meaningful with prompt_encoding = \"gather\"".into()),
            (v, _, _) => Err(format!("[model] contract = {v} is not supported (1 or 2)")),
        }
    }

    fn check_dynamic(&self) -> Result<(), String> {
        for (sym, [min, opt, max]) in &self.dynamic {
            if !(1 <= *min && min <= opt && opt <= max) {
                return Err(format!("[dynamic] {sym} = [{min}, {opt}, {max}] must satisfy 1 <= min <= opt <= max"));
            }
        }
        Ok(())
    }

    fn check_tensor(&self, t: &TensorSpec) -> Result<(), String> {
        let known = ["image_encoder", "mask_decoder", PROMPT_DECODER, "text_encoder"];
        if !known.contains(&t.file.as_str()) {
            return Err(format!("tensor `{}`: unknown file key `{}` (expected one of {known:?})", t.name, t.file));
        }
        for (key, given) in [("text_encoder", self.files.text_encoder.is_some()), (PROMPT_DECODER, self.files.prompt_decoder.is_some())] {
            if t.file == key && !given {
                return Err(format!("tensor `{}` belongs to {key} but [files] has no {key}", t.name));
            }
        }
        if t.file == PROMPT_DECODER && t.name.starts_with("det_") {
            return Err(format!("tensor `{}`: the prompt decoder has no learnable queries, so no det_* outputs", t.name));
        }
        if t.dtype != "f32" && t.dtype != "i64" {
            return Err(format!("tensor `{}`: dtype `{}` is not supported (f32 or i64)", t.name, t.dtype));
        }
        for d in &t.shape {
            match d {
                Dim::Fixed(n) if *n < 1 => {
                    return Err(format!("tensor `{}`: dimension {n} must be >= 1", t.name));
                }
                Dim::Symbol(s) if !self.dynamic.contains_key(s) => {
                    return Err(format!("tensor `{}`: symbol `{s}` is not declared in [dynamic]", t.name));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The tensors the runtime binds by name must be declared with the contract's shapes.
    fn check_contract_tensors(&self) -> Result<(), String> {
        for (file, io, name, want) in self.contract_shapes() {
            let Some(t) = self.tensor(file, io, name) else {
                return Err(format!("{file} {io} `{name}` is missing from [[tensors]] (contract v{} requires it)", self.model.contract));
            };
            if t.shape != want {
                return Err(format!(
                    "{file} {io} `{name}` is declared as {}, but [input]/[model] imply {}",
                    shape_string(&t.shape),
                    shape_string(&want)
                ));
            }
            if t.dtype != "f32" {
                return Err(format!("{file} {io} `{name}` must be f32, manifest says {}", t.dtype));
            }
        }
        Ok(())
    }

    /// (file, io, name, shape) of every tensor contract v1 fixes. Prompt axes keep the
    /// manifest's own symbols (their names are free; only their presence matters).
    fn contract_shapes(&self) -> Vec<(&'static str, Io, &'static str, Vec<Dim>)> {
        let (w, h) = (self.input.width as i64, self.input.height as i64);
        let m = &self.model;
        let fx = Dim::Fixed;
        let feat = |name: &str, s: i64| vec![fx(1), fx(m.feature_channels(name) as i64), fx(h / s), fx(w / s)];
        let (h4, w4) = (fx(h / 4), fx(w / 4));
        let n = fx(m.num_queries as i64);
        let p = self.prompt_dim(0);
        let mut v = vec![("image_encoder", Io::Input, "image", vec![fx(1), fx(3), fx(h), fx(w)])];
        for (name, s) in self.features() {
            v.push(("image_encoder", Io::Output, name, feat(name, s)));
            v.push(("mask_decoder", Io::Input, name, feat(name, s)));
        }
        v.push(("mask_decoder", Io::Input, "prompt_tokens", vec![p.clone(), self.prompt_dim(1), fx(m.token_dim() as i64)]));
        v.push(("mask_decoder", Io::Input, "prompt_valid", vec![p.clone(), self.prompt_dim(1)]));
        for (prefix, q) in [("det", n), ("prompt", p)] {
            let name = |s: &'static str| -> &'static str { output_name(prefix, s) };
            v.push(("mask_decoder", Io::Output, name("masks"), vec![q.clone(), h4.clone(), w4.clone()]));
            v.push(("mask_decoder", Io::Output, name("class_emb"), vec![q.clone(), fx(m.class_dim as i64)]));
            v.push(("mask_decoder", Io::Output, name("assoc_emb"), vec![q.clone(), fx(m.assoc_dim as i64)]));
            v.push(("mask_decoder", Io::Output, name("quality"), vec![q.clone()]));
        }
        if self.files.prompt_decoder.is_some() {
            // The mask decoder's inputs and prompt outputs, declared the same way.
            let same: Vec<_> = v.iter().filter(|(f, _, name, _)| *f == "mask_decoder" && !name.starts_with("det_")).cloned().collect();
            v.extend(same.into_iter().map(|(_, io, name, shape)| (PROMPT_DECODER, io, name, shape)));
        }
        v
    }

    /// Whether the bundle has the optional `class_feat` tensor (declared for either file:
    /// then both must declare it, so an encoder output never goes unused).
    pub fn has_class_feat(&self) -> bool {
        self.tensors.iter().any(|t| t.name == CLASS_FEAT.0 && t.file != "text_encoder")
    }

    /// Encoder outputs / decoder inputs of this bundle with their strides: [`FEATURES`],
    /// then [`CLASS_FEAT`] when declared.
    pub fn features(&self) -> Vec<(&'static str, i64)> {
        let mut v = FEATURES.to_vec();
        if self.has_class_feat() {
            v.push(CLASS_FEAT);
        }
        v
    }

    /// The dimension the manifest uses for axis `axis` of `prompt_tokens` (P or T).
    fn prompt_dim(&self, axis: usize) -> Dim {
        self.tensor("mask_decoder", Io::Input, "prompt_tokens")
            .and_then(|t| t.shape.get(axis).cloned())
            .unwrap_or(Dim::Symbol(if axis == 0 { "P" } else { "T" }.into()))
    }

    /// [min, opt, max] of a dimension (fixed dims give [n, n, n]).
    pub fn dim_range(&self, d: &Dim) -> Option<[i64; 3]> {
        match d {
            Dim::Fixed(n) => Some([*n, *n, *n]),
            Dim::Symbol(s) => self.dynamic.get(s).copied(),
        }
    }
}

/// `[files]` key of the optional prompt-only decoder.
pub const PROMPT_DECODER: &str = "prompt_decoder";

/// Encoder outputs / decoder inputs every bundle has, with their strides.
pub const FEATURES: [(&str, i64); 4] = [("mask_feat", 4), ("feat_s8", 8), ("feat_s16", 16), ("feat_s32", 32)];

/// Optional encoder output / decoder input: features of the classifier's own
/// ([C, H/4, W/4]), passed through from encoder to decoder like the four above.
pub const CLASS_FEAT: (&str, i64) = ("class_feat", 4);

fn output_name(prefix: &str, head: &str) -> &'static str {
    match (prefix, head) {
        ("det", "masks") => "det_masks",
        ("det", "class_emb") => "det_class_emb",
        ("det", "assoc_emb") => "det_assoc_emb",
        ("det", "quality") => "det_quality",
        ("prompt", "masks") => "prompt_masks",
        ("prompt", "class_emb") => "prompt_class_emb",
        ("prompt", "assoc_emb") => "prompt_assoc_emb",
        _ => "prompt_quality",
    }
}
