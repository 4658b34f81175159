//! Engine bundles: a directory with `bundle.toml`, ONNX files and a vocabulary.
//!
//! [`Bundle::load`] parses and checks the manifest, resolves every file relative to the
//! bundle directory and loads the vocabulary. Matching the manifest against the ONNX
//! files' real inputs/outputs needs a backend to read them: see [`validate`] and
//! `runtime::ort`.
pub mod manifest;
pub mod resolve;
pub mod validate;

use std::path::{Path, PathBuf};

pub use manifest::{Dim, Io, Manifest, PromptEncoding, TensorSpec};
pub use resolve::resolve_bundle_dir;
pub use validate::{check_model_io, IoSpec};

use crate::vocab::Vocabulary;

/// Why a bundle could not be loaded; every message names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("model bundle not found: {0}")]
    NotFound(String),
    #[error("{path}: {msg}")]
    Manifest { path: PathBuf, msg: String },
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    #[error("{0}")]
    Mismatch(String),
}

/// A loaded bundle: manifest, directory and vocabulary.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub vocabulary: Vocabulary,
}

impl Bundle {
    /// Loads the bundle in `dir` (checks the manifest, file presence and vocabulary).
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        if !dir.is_dir() {
            return Err(BundleError::NotFound(format!("{} is not a directory", dir.display())));
        }
        let path = dir.join("bundle.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BundleError::Manifest { path: path.clone(), msg: format!("cannot read the manifest: {e}") })?;
        let manifest = Manifest::parse(&text).map_err(|msg| BundleError::Manifest { path: path.clone(), msg })?;
        let bundle = Bundle { dir: dir.to_path_buf(), manifest, vocabulary: Vocabulary::default() };
        bundle.check_files_exist()?;
        let vocabulary = bundle.load_vocabulary()?;
        Ok(Bundle { vocabulary, ..bundle })
    }

    pub fn name(&self) -> &str {
        &self.manifest.bundle.name
    }

    /// Path of a file named in `[files]` (key `image_encoder`, `mask_decoder`, ...).
    pub fn file(&self, key: &str) -> Option<PathBuf> {
        self.manifest.files.get(key).map(|name| self.dir.join(name))
    }

    /// Every `[files]` entry is a file. Names were checked to stay inside the directory
    /// (no absolute path, no `..`); symbolic links are followed: whoever installed the bundle
    /// placed them (bundles share large ONNX files that way), the manifest text did not.
    fn check_files_exist(&self) -> Result<(), BundleError> {
        for (key, name) in self.manifest.files.entries() {
            let path = self.dir.join(name);
            if !path.is_file() {
                return Err(BundleError::File { path, msg: format!("[files] {key} does not exist") });
            }
        }
        Ok(())
    }

    fn load_vocabulary(&self) -> Result<Vocabulary, BundleError> {
        let path = self.file("vocabulary").expect("vocabulary is a required [files] key");
        let err = |msg: String| BundleError::File { path: path.clone(), msg };
        let text = std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read: {e}")))?;
        parse_vocabulary(&text, self.manifest.model.class_dim, self.manifest.model.logit_scale).map_err(err)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    names: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

/// Parses `{"names": [...], "embeddings": [[D floats], ...]}`: at least one class, names
/// non-empty, trimmed and unique (a class is selected and reported by name), every row
/// finite and of non-zero length (a zero row has no direction: cosine scoring is undefined).
pub fn parse_vocabulary(text: &str, dim: usize, logit_scale: f32) -> Result<Vocabulary, String> {
    let v: VocabularyFile = serde_json::from_str(text).map_err(|e| format!("malformed vocabulary: {e}"))?;
    if v.names.is_empty() {
        return Err("the vocabulary is empty: at least one class name is needed".into());
    }
    if v.names.len() != v.embeddings.len() {
        return Err(format!("{} names but {} embeddings", v.names.len(), v.embeddings.len()));
    }
    check_vocabulary_names(&v.names)?;
    let mut flat = Vec::with_capacity(v.names.len().saturating_mul(dim).min(1 << 20));
    for (name, row) in v.names.iter().zip(&v.embeddings) {
        if row.len() != dim {
            return Err(format!("embedding of `{name}` has {} values, [model] class_dim = {dim}", row.len()));
        }
        if row.iter().any(|x| !x.is_finite()) {
            return Err(format!("embedding of `{name}` has a non-finite value"));
        }
        // Summed in f64: squares of large f32 values overflow f32 to infinity.
        let norm = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        if norm < 1e-6 {
            return Err(format!("embedding of `{name}` is all zeros (norm {norm:e}): it cannot be compared by cosine"));
        }
        flat.extend_from_slice(row);
    }
    Ok(Vocabulary::new(v.names, flat, dim, logit_scale))
}

fn check_vocabulary_names(names: &[String]) -> Result<(), String> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("class name {i} is empty"));
        }
        if name.trim() != name {
            return Err(format!("class name {name:?} has leading or trailing spaces (names given at run time are trimmed)"));
        }
        if let Some(first) = seen.insert(name.as_str(), i) {
            return Err(format!("class `{name}` is listed twice (names {first} and {i})"));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const FIXTURE_TOML: &str = include_str!("../../tests/fixtures/fixture_bundle.toml");

    #[test]
    fn fixture_manifest_parses() {
        let m = Manifest::parse(FIXTURE_TOML).unwrap();
        assert_eq!((m.input.width, m.model.num_queries, m.model.class_dim), (64, 8, 32));
        assert_eq!(m.dynamic["P"], [1, 4, 32]);
        let t = m.tensor("mask_decoder", Io::Output, "prompt_masks").unwrap();
        assert_eq!(t.shape, vec![Dim::Symbol("P".into()), Dim::Fixed(16), Dim::Fixed(16)]);
    }

    /// Contract v2 `gather`: feat_s8 and prompt_tokens are token_dim wide; every other
    /// tensor keeps hidden_dim; the new keys need contract = 2 and each other.
    #[test]
    fn contract_v2_gather_widens_feat_s8_and_tokens_only() {
        let v2 = |model: &str| {
            FIXTURE_TOML
                .replacen("[model]", &format!("[model]\n{model}"), 1)
                .replacen("shape = [1, 16, 8, 8]", "shape = [1, 40, 8, 8]", 2)
                .replacen("shape = [\"P\", \"T\", 16]", "shape = [\"P\", \"T\", 40]", 1)
        };
        let m = Manifest::parse(&v2("contract = 2\nprompt_encoding = \"gather\"\ntoken_dim = 40")).unwrap();
        assert_eq!((m.model.token_dim(), m.model.feature_channels("feat_s8"), m.model.feature_channels("feat_s16")), (40, 40, 16));
        assert_eq!(m.model.prompt_encoding, PromptEncoding::Gather);
        let cases = [
            ("prompt_encoding = \"gather\"\ntoken_dim = 40", "need contract = 2"),
            ("contract = 2\nprompt_encoding = \"gather\"", "needs token_dim"),
            ("contract = 3\nprompt_encoding = \"gather\"\ntoken_dim = 40", "contract = 3 is not supported"),
            (
                "contract = 2\nprompt_encoding = \"gather\"\ntoken_dim = 48",
                "`feat_s8` is declared as [1, 40, 8, 8], but [input]/[model] imply [1, 48, 8, 8]",
            ),
            ("contract = 2\nprompt_encoding = \"gaze\"\ntoken_dim = 40", "unknown variant `gaze`"),
        ];
        for (model, want) in cases {
            let e = Manifest::parse(&v2(model)).unwrap_err();
            assert!(e.contains(want), "{model:?}: got {e:?}, want {want:?}");
        }
        // A v1 manifest is unchanged: tokens are hidden_dim wide.
        let v1 = Manifest::parse(FIXTURE_TOML).unwrap();
        assert_eq!((v1.model.contract, v1.model.token_dim(), v1.model.prompt_encoding), (1, 16, PromptEncoding::Sine));
    }

    #[test]
    fn manifest_errors_name_the_cause() {
        let cases = [
            ("num_queries = 8", "num_queries = 9", "`det_masks` is declared as [8, 16, 16], but [input]/[model] imply [9, 16, 16]"),
            ("P = [1, 4, 32]", "P = [1, 33, 32]", "[dynamic] P = [1, 33, 32] must satisfy"),
            ("P = [1, 4, 32]", "P = [1, 4, 6]", "prompt axis `P` allows at most 6, but [model] max_prompts = 32"),
            ("name = \"prompt_valid\"", "name = \"prompt_mask\"", "`prompt_valid` is missing"),
            ("width = 64", "width = 60", "multiples of 32"),
            ("[model]", "[modle]", "unknown field `modle`"),
            ("hidden_dim = 16", "hidden_dim = \"16\"", "invalid type"),
        ];
        for (from, to, want) in cases {
            let text = FIXTURE_TOML.replacen(from, to, 1);
            let e = Manifest::parse(&text).unwrap_err();
            assert!(e.contains(want), "replacing {from:?}: got {e:?}, want {want:?}");
        }
        let undeclared = FIXTURE_TOML.replacen("shape = [\"P\", \"T\", 16]", "shape = [\"Q\", \"T\", 16]", 1);
        assert!(Manifest::parse(&undeclared).unwrap_err().contains("symbol `Q` is not declared in [dynamic]"));
    }

    /// `[[tensors]]` entry for `class_feat` of the 64 px fixture (C = 16, stride 4).
    fn class_feat(file: &str, io: &str, side: usize) -> String {
        format!(
            "\n[[tensors]]\nfile = \"{file}\"\nio = \"{io}\"\nname = \"class_feat\"\ndtype = \"f32\"\nshape = [1, 16, {side}, {side}]\n"
        )
    }

    /// The optional class_feat: absent is fine, present must be declared by both files
    /// with the stride-4 feature shape.
    #[test]
    fn class_feat_is_optional_but_checked() {
        assert!(!Manifest::parse(FIXTURE_TOML).unwrap().has_class_feat());
        let with = |extra: &str| FIXTURE_TOML.replacen("[dynamic]", &format!("{extra}\n[dynamic]"), 1);
        let both = with(&(class_feat("image_encoder", "output", 16) + &class_feat("mask_decoder", "input", 16)));
        let m = Manifest::parse(&both).unwrap();
        assert!(m.has_class_feat());
        assert_eq!(m.features().last(), Some(&("class_feat", 4)));
        let e = Manifest::parse(&with(&class_feat("image_encoder", "output", 16))).unwrap_err();
        assert!(e.contains("mask_decoder input `class_feat` is missing"), "{e}");
        let e = Manifest::parse(&with(&class_feat("mask_decoder", "input", 16))).unwrap_err();
        assert!(e.contains("image_encoder output `class_feat` is missing"), "{e}");
        let wrong = with(&(class_feat("image_encoder", "output", 8) + &class_feat("mask_decoder", "input", 8)));
        let e = Manifest::parse(&wrong).unwrap_err();
        assert!(e.contains("`class_feat` is declared as [1, 16, 8, 8], but [input]/[model] imply [1, 16, 16, 16]"), "{e}");
    }

    /// `[[tensors]]` of a prompt decoder for the fixture: the mask decoder's inputs and
    /// prompt outputs, as `engines/tools/prompt_only_decoder.py` declares them.
    fn prompt_decoder_tensors() -> String {
        let m = Manifest::parse(FIXTURE_TOML).unwrap();
        let quote = |d: &Dim| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbol(s) => format!("{s:?}"),
        };
        m.tensors
            .iter()
            .filter(|t| t.file == "mask_decoder" && !t.name.starts_with("det_"))
            .map(|t| {
                let shape: Vec<String> = t.shape.iter().map(quote).collect();
                format!(
                    "\n[[tensors]]\nfile = \"prompt_decoder\"\nio = \"{}\"\nname = \"{}\"\ndtype = \"f32\"\nshape = [{}]\n",
                    t.io,
                    t.name,
                    shape.join(", ")
                )
            })
            .collect()
    }

    /// The optional prompt decoder: absent is fine; given, its file key and the mask
    /// decoder's inputs and prompt outputs must be declared, and no det_* output.
    #[test]
    fn prompt_decoder_is_optional_but_checked() {
        let with = |file: bool, tensors: &str| {
            let text = FIXTURE_TOML.replacen("[dynamic]", &format!("{tensors}\n[dynamic]"), 1);
            if file {
                text.replacen("[files]\n", "[files]\nprompt_decoder = \"prompt_decoder.onnx\"\n", 1)
            } else {
                text
            }
        };
        assert_eq!(Manifest::parse(FIXTURE_TOML).unwrap().files.prompt_decoder, None);
        let m = Manifest::parse(&with(true, &prompt_decoder_tensors())).unwrap();
        assert_eq!(m.files.get("prompt_decoder"), Some("prompt_decoder.onnx"));
        assert_eq!(m.tensors_of("prompt_decoder", Io::Output).count(), 4);
        let e = Manifest::parse(&with(false, &prompt_decoder_tensors())).unwrap_err();
        assert!(e.contains("belongs to prompt_decoder but [files] has no prompt_decoder"), "{e}");
        let e = Manifest::parse(&with(true, "")).unwrap_err();
        assert!(e.contains("prompt_decoder input `mask_feat` is missing"), "{e}");
        let without_quality = prompt_decoder_tensors().replace("name = \"prompt_quality\"", "name = \"det_quality\"");
        let e = Manifest::parse(&with(true, &without_quality)).unwrap_err();
        assert!(e.contains("the prompt decoder has no learnable queries, so no det_* outputs"), "{e}");
        let wrong = prompt_decoder_tensors().replacen("shape = [\"P\", 16, 16]", "shape = [\"P\", 8, 8]", 1);
        let e = Manifest::parse(&with(true, &wrong)).unwrap_err();
        assert!(e.contains("prompt_decoder output `prompt_masks` is declared as [P, 8, 8], but [input]/[model] imply [P, 16, 16]"), "{e}");
    }

    #[test]
    fn vocabulary_rows_are_checked() {
        let v = parse_vocabulary(r#"{"names":["a","b"],"embeddings":[[3,4],[0,2]]}"#, 2, 10.0).unwrap();
        assert_eq!(v.names, vec!["a", "b"]);
        assert_eq!(v.embeddings, vec![0.6, 0.8, 0.0, 1.0]);
        let e = parse_vocabulary(r#"{"names":["a"],"embeddings":[[1,2,3]]}"#, 2, 1.0).unwrap_err();
        assert_eq!(e, "embedding of `a` has 3 values, [model] class_dim = 2");
        let e = parse_vocabulary(r#"{"names":["a","b"],"embeddings":[[1,2]]}"#, 2, 1.0).unwrap_err();
        assert_eq!(e, "2 names but 1 embeddings");
        assert!(parse_vocabulary("{", 2, 1.0).unwrap_err().starts_with("malformed vocabulary"));
    }

    /// Empty vocabularies, empty / padded / duplicate names and zero rows are refused
    /// with the cause (each used to load: a zero row scored every object 0.5).
    #[test]
    fn vocabulary_names_and_zero_rows_are_refused() {
        let cases = [
            (r#"{"names":[],"embeddings":[]}"#, "the vocabulary is empty: at least one class name is needed"),
            (r#"{"names":["a"," "],"embeddings":[[1,0],[0,1]]}"#, "class name 1 is empty"),
            (r#"{"names":["a","b "],"embeddings":[[1,0],[0,1]]}"#, "class name \"b \" has leading or trailing spaces"),
            (r#"{"names":["a","b","a"],"embeddings":[[1,0],[0,1],[1,1]]}"#, "class `a` is listed twice (names 0 and 2)"),
            (r#"{"names":["a","b"],"embeddings":[[1,0],[0,0]]}"#, "embedding of `b` is all zeros"),
        ];
        for (text, want) in cases {
            let e = parse_vocabulary(text, 2, 10.0).unwrap_err();
            assert!(e.starts_with(want), "{text}: got {e:?}, want {want:?}");
        }
        let v = parse_vocabulary(r#"{"names":["big"],"embeddings":[[3e30,4e30]]}"#, 2, 10.0).unwrap();
        assert!((v.embeddings[0] - 0.6).abs() < 1e-6 && (v.embeddings[1] - 0.8).abs() < 1e-6, "{:?}", v.embeddings);
    }

    /// `[files]` names that leave the bundle directory are manifest errors.
    #[test]
    fn file_names_must_stay_inside_the_bundle() {
        let cases = [
            ("\"../../../etc/passwd\"", "[files] vocabulary = \"../../../etc/passwd\" leaves the bundle directory with `..`"),
            ("\"/etc/passwd\"", "[files] vocabulary = \"/etc/passwd\" is an absolute path"),
            ("\"sub/../../x.json\"", "leaves the bundle directory with `..`"),
            ("\"\"", "[files] vocabulary = \"\" is empty"),
        ];
        for (name, want) in cases {
            let text = FIXTURE_TOML.replacen("\"vocabulary.json\"", name, 1);
            let e = Manifest::parse(&text).unwrap_err();
            assert!(e.contains(want), "{name}: got {e:?}");
            assert!(e.ends_with("files must be relative paths inside the bundle directory"), "{e}");
        }
        let sub = FIXTURE_TOML.replacen("\"vocabulary.json\"", "\"./text/vocabulary.json\"", 1);
        assert_eq!(Manifest::parse(&sub).unwrap().files.get("vocabulary"), Some("./text/vocabulary.json"));
    }

    #[test]
    fn non_finite_normalisation_and_scale_are_refused() {
        let cases = [
            ("std = [0.229, 0.224, 0.225]", "std = [nan, 0.224, 0.225]", "[input] std values must be finite and > 0"),
            ("mean = [0.485, 0.456, 0.406]", "mean = [inf, 0.456, 0.406]", "[input] mean values must be finite"),
            ("logit_scale = 20.0", "logit_scale = -1.0", "[model] logit_scale must be finite and > 0, got -1"),
        ];
        for (from, to, want) in cases {
            let text = FIXTURE_TOML.replacen(from, to, 1);
            assert_ne!(text, FIXTURE_TOML, "{from} not in the fixture");
            let e = Manifest::parse(&text).unwrap_err();
            assert!(e.contains(want), "{to}: got {e:?}");
        }
    }

    #[test]
    fn missing_directory_and_manifest_are_clear() {
        let e = Bundle::load(Path::new("/nonexistent/bundle")).unwrap_err();
        assert_eq!(e.to_string(), "model bundle not found: /nonexistent/bundle is not a directory");
        let dir = tempfile::tempdir().unwrap();
        let e = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bundle.toml: cannot read the manifest"), "{e}");
        std::fs::write(dir.path().join("bundle.toml"), FIXTURE_TOML).unwrap();
        let e = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("image_encoder.onnx: [files] image_encoder does not exist"), "{e}");
    }
}
