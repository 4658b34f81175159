//! Pre- and postprocessing kernels.
//!
//! CPU implementations ([`preprocess`], [`postprocess`]) are the reference twins and the
//! ones the pipeline runs today. [`cuda`] holds the same kernels as CUDA C, compiled by
//! NVRTC in the tests; its launch path is compiled, not run (no GPU in this project).
pub mod bilinear;
pub mod cuda;
pub mod postprocess;
pub mod preprocess;

pub use postprocess::{paste, MaskUpsampler, Window};
pub use preprocess::{FrameError, Preprocessor};

#[cfg(test)]
mod tests;
