//! TensorRT optimisation profiles from a bundle manifest.
//!
//! A plan file is built on the target device (TensorRT plans are specific to the GPU and
//! the TensorRT version), so the bundle ships ONNX and this module turns its declared
//! dynamic shapes into `trtexec` arguments: each dynamic symbol at the manifest's
//! [min, opt, max]. `segstream trt-profile` prints them for deploy/tensorrt/build-engines.sh.
use crate::bundle::manifest::{Io, Manifest};
use crate::runtime::ort::session::trt_profile;

/// `--minShapes=... --optShapes=... --maxShapes=...` for one model file of the bundle,
/// or an empty list when every input is static (trtexec then needs no profile). The
/// shape strings are the ones ONNX Runtime's TensorRT provider gets ([`trt_profile`]).
pub fn trtexec_shape_args(manifest: &Manifest, file: &str) -> Result<Vec<String>, String> {
    if manifest.tensors_of(file, Io::Input).next().is_none() {
        return Err(format!("the manifest declares no inputs for `{file}`"));
    }
    let levels = [0, 1, 2].map(|which| trt_profile(manifest, file, which));
    if levels[0].is_empty() {
        return Ok(Vec::new());
    }
    let flags = ["--minShapes=", "--optShapes=", "--maxShapes="];
    Ok(flags.iter().zip(levels).map(|(f, v)| format!("{f}{v}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/tiny/bundle.toml");
        Manifest::parse(&std::fs::read_to_string(dir).unwrap()).unwrap()
    }

    #[test]
    fn static_encoder_needs_no_profile() {
        assert!(trtexec_shape_args(&manifest(), "image_encoder").unwrap().is_empty());
    }

    #[test]
    fn decoder_profile_spans_declared_ranges() {
        let m = manifest();
        let args = trtexec_shape_args(&m, "mask_decoder").unwrap();
        assert_eq!(args.len(), 3);
        let [p, t] = ["P", "T"].map(|s| m.dynamic[s]);
        let c = m.model.token_dim();
        for (level, arg) in args.iter().enumerate() {
            let want = format!("prompt_tokens:{}x{}x{c}", p[level], t[level]);
            assert!(arg.contains(&want), "{arg} lacks {want}");
            assert!(arg.contains(&format!("prompt_valid:{}x{}", p[level], t[level])), "{arg}");
            // Static inputs need no profile entry.
            assert!(!arg.contains("feat_s8"), "{arg}");
        }
        assert!(args[0].starts_with("--minShapes=") && args[2].starts_with("--maxShapes="));
    }

    /// Contract v2 (`gather`): the prompt-token profile is token_dim wide, not hidden_dim.
    #[test]
    fn gather_bundle_profile_uses_token_dim() {
        let text = crate::bundle::tests::FIXTURE_TOML
            .replacen("[model]", "[model]\ncontract = 2\nprompt_encoding = \"gather\"\ntoken_dim = 40", 1)
            .replacen("shape = [1, 16, 8, 8]", "shape = [1, 40, 8, 8]", 2)
            .replacen("shape = [\"P\", \"T\", 16]", "shape = [\"P\", \"T\", 40]", 1);
        let m = Manifest::parse(&text).unwrap();
        let args = trtexec_shape_args(&m, "mask_decoder").unwrap();
        let [p, t] = ["P", "T"].map(|s| m.dynamic[s]);
        assert!(args[2].contains(&format!("prompt_tokens:{}x{}x40", p[2], t[2])), "{args:?}");
    }

    #[test]
    fn unknown_file_is_an_error() {
        let err = trtexec_shape_args(&manifest(), "nope").unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
