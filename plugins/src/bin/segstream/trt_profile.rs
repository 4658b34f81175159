//! `segstream trt-profile`: the trtexec shape flags for one model of a bundle, one per
//! line, as deploy/tensorrt/build-engines.sh consumes them.
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Print trtexec --minShapes/--optShapes/--maxShapes for a bundle's model (nothing when static)
#[derive(clap::Args, Debug)]
pub struct TrtProfileArgs {
    /// Bundle directory (with bundle.toml)
    pub bundle: PathBuf,
    /// Model file key: image_encoder, mask_decoder or text_encoder
    pub model: String,
}

pub fn run(args: TrtProfileArgs) -> Result<()> {
    let path = args.bundle.join("bundle.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = segstream::bundle::manifest::Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let args = segstream::runtime::tensorrt::profile::trtexec_shape_args(&manifest, &args.model)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for a in args {
        println!("{a}");
    }
    Ok(())
}
