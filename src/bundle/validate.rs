//! Checks a manifest against the inputs/outputs an ONNX file really has.
//!
//! Backend-neutral: the runtime reads the model's metadata into [`IoSpec`]s (ONNX Runtime
//! session metadata today, a TensorRT engine's bindings later) and this module compares.
//! Every error names the file and the mismatch, e.g.
//! `mask_decoder.onnx: output `det_masks` has shape [24, 8, 8], manifest says [20, 8, 8]`.
use super::manifest::{shape_string, Dim, Io, Manifest, TensorSpec};

/// One model input or output as the model file declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct IoSpec {
    pub name: String,
    /// `f32`, `i64`, ... (`other:<type>` for anything the contract never uses).
    pub dtype: String,
    /// Static sizes; `None` for a dynamic axis.
    pub dims: Vec<Option<i64>>,
    /// Symbolic names of the axes (empty string when unnamed).
    pub symbols: Vec<String>,
}

impl IoSpec {
    pub fn shape_string(&self) -> String {
        let parts: Vec<String> = self
            .dims
            .iter()
            .zip(self.symbols.iter().chain(std::iter::repeat(&String::new())))
            .map(|(d, s)| match d {
                Some(n) => n.to_string(),
                None if !s.is_empty() => s.clone(),
                None => "?".into(),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// Compares the declared tensors of `file_key` with the model's real inputs and outputs.
/// `file_name` is used in messages (e.g. `mask_decoder.onnx`).
pub fn check_model_io(manifest: &Manifest, file_key: &str, file_name: &str, inputs: &[IoSpec], outputs: &[IoSpec]) -> Result<(), String> {
    for (io, actual) in [(Io::Input, inputs), (Io::Output, outputs)] {
        check_direction(manifest, file_key, io, actual).map_err(|e| format!("{file_name}: {e}"))?;
    }
    Ok(())
}

fn check_direction(manifest: &Manifest, file_key: &str, io: Io, actual: &[IoSpec]) -> Result<(), String> {
    let declared: Vec<&TensorSpec> = manifest.tensors_of(file_key, io).collect();
    for spec in &declared {
        let Some(real) = actual.iter().find(|a| a.name == spec.name) else {
            let names: Vec<&str> = actual.iter().map(|a| a.name.as_str()).collect();
            return Err(format!("manifest declares {io} `{}` but the model's {io}s are {names:?}", spec.name));
        };
        check_tensor(manifest, spec, real)?;
    }
    for real in actual {
        if !declared.iter().any(|d| d.name == real.name) {
            return Err(format!("model {io} `{}` {} is not declared in the manifest", real.name, real.shape_string()));
        }
    }
    Ok(())
}

fn check_tensor(manifest: &Manifest, spec: &TensorSpec, real: &IoSpec) -> Result<(), String> {
    let io = spec.io;
    if real.dtype != spec.dtype {
        return Err(format!("{io} `{}` has dtype {}, manifest says {}", spec.name, real.dtype, spec.dtype));
    }
    let mismatch = || format!("{io} `{}` has shape {}, manifest says {}", spec.name, real.shape_string(), shape_string(&spec.shape));
    if real.dims.len() != spec.shape.len() {
        return Err(mismatch());
    }
    for (axis, (want, got)) in spec.shape.iter().zip(&real.dims).enumerate() {
        match (want, got) {
            (Dim::Fixed(n), Some(m)) if n != m => return Err(mismatch()),
            // A dynamic model axis may be pinned by the manifest: the runtime always binds `n`.
            (Dim::Fixed(_), _) => {}
            (Dim::Symbol(_), None) => {}
            (Dim::Symbol(s), Some(m)) => {
                let [min, _, max] = manifest.dim_range(want).unwrap_or([0; 3]);
                if !(min == *m && max == *m) {
                    return Err(format!(
                        "{io} `{}` axis {axis} is fixed to {m} in the model, manifest declares dynamic `{s}` in [{min}, {max}]",
                        spec.name
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(super::super::tests::FIXTURE_TOML).unwrap()
    }

    fn spec(name: &str, dims: &[Option<i64>]) -> IoSpec {
        IoSpec { name: name.into(), dtype: "f32".into(), dims: dims.to_vec(), symbols: vec![String::new(); dims.len()] }
    }

    fn encoder_outputs() -> Vec<IoSpec> {
        vec![
            spec("mask_feat", &[Some(1), Some(16), Some(16), Some(16)]),
            spec("feat_s8", &[Some(1), Some(16), Some(8), Some(8)]),
            spec("feat_s16", &[Some(1), Some(16), Some(4), Some(4)]),
            spec("feat_s32", &[Some(1), Some(16), Some(2), Some(2)]),
        ]
    }

    #[test]
    fn matching_encoder_passes() {
        let inputs = [spec("image", &[Some(1), Some(3), Some(64), Some(64)])];
        check_model_io(&manifest(), "image_encoder", "enc.onnx", &inputs, &encoder_outputs()).unwrap();
    }

    #[test]
    fn wrong_static_dim_names_file_tensor_and_both_shapes() {
        let inputs = [spec("image", &[Some(1), Some(3), Some(64), Some(64)])];
        let mut outs = encoder_outputs();
        outs[1].dims[2] = Some(9);
        let e = check_model_io(&manifest(), "image_encoder", "enc.onnx", &inputs, &outs).unwrap_err();
        assert_eq!(e, "enc.onnx: output `feat_s8` has shape [1, 16, 9, 8], manifest says [1, 16, 8, 8]");
    }

    #[test]
    fn dtype_rank_missing_and_undeclared_are_errors() {
        let m = manifest();
        let mut inputs = vec![spec("image", &[Some(1), Some(3), Some(64), Some(64)])];
        inputs[0].dtype = "i64".into();
        let e = check_model_io(&m, "image_encoder", "e.onnx", &inputs, &encoder_outputs()).unwrap_err();
        assert!(e.contains("input `image` has dtype i64, manifest says f32"), "{e}");

        let inputs = [spec("image", &[Some(3), Some(64), Some(64)])];
        let e = check_model_io(&m, "image_encoder", "e.onnx", &inputs, &encoder_outputs()).unwrap_err();
        assert!(e.contains("has shape [3, 64, 64], manifest says [1, 3, 64, 64]"), "{e}");

        let inputs = [spec("img", &[Some(1), Some(3), Some(64), Some(64)])];
        let e = check_model_io(&m, "image_encoder", "e.onnx", &inputs, &encoder_outputs()).unwrap_err();
        assert!(e.contains("manifest declares input `image` but the model's inputs are [\"img\"]"), "{e}");

        let inputs = [spec("image", &[Some(1), Some(3), Some(64), Some(64)])];
        let mut outs = encoder_outputs();
        outs.push(spec("extra", &[Some(2)]));
        let e = check_model_io(&m, "image_encoder", "e.onnx", &inputs, &outs).unwrap_err();
        assert!(e.contains("model output `extra` [2] is not declared"), "{e}");
    }

    #[test]
    fn symbol_against_fixed_model_axis_is_rejected() {
        let m = manifest();
        let mut inputs: Vec<IoSpec> = encoder_outputs();
        inputs.push(spec("prompt_tokens", &[Some(4), None, Some(16)]));
        inputs.push(spec("prompt_valid", &[None, None]));
        let e = check_model_io(&m, "mask_decoder", "d.onnx", &inputs, &[]).unwrap_err();
        assert!(e.contains("axis 0 is fixed to 4 in the model, manifest declares dynamic `P` in [1, 32]"), "{e}");
    }
}
