//! segstream core library: everything except GStreamer.
//!
//! Module map (see docs/ARCHITECTURE.md):
//! - [`tensor`], [`model`]: the engine contract as Rust types (features, prompts, decoder outputs).
//! - [`bundle`]: engine bundle manifests (`bundle.toml`) and their validation.
//! - [`runtime`]: inference backends (ONNX Runtime today; TensorRT later) behind one trait.
//! - [`kernels`]: pre/post-processing (CPU twins; CUDA sources compiled by NVRTC).
//! - [`mask`]: binary masks, boxes, IoU, COCO RLE.
//! - [`vocab`]: class vocabularies and cosine class scoring.
//! - [`tracker`]: UniVS-style online tracking with prompts as queries.
//! - [`segmenter`]: one frame in, tracked objects out (glues the above).
//! - [`output`]: the versioned JSON payload.
//! - [`mqtt`]: reliable publishing (rumqttc) with spooling and commands.
//! - [`world`]: the synthetic video world with exact ground truth.
pub mod mask;
pub mod model;
pub mod rle;
pub mod tensor;
pub mod vocab;
pub mod segmenter;
pub mod tracker;
pub mod metrics;
pub mod eval;
pub mod output;
pub mod command;
pub mod mqtt;
pub mod world;
pub mod bundle;
pub mod runtime;
pub mod kernels;
