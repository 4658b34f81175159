//! segstream core library: everything except GStreamer.
//!
//! Module map (see docs/ARCHITECTURE.md):
//! - [`frame`], [`frame_result`]: a borrowed video frame; one frame's tracked objects (the bottom
//!   of the crate: kernels, output and segmenter all use them).
//! - [`tensor`], [`model`]: the engine contract as Rust types (features, prompts, decoder outputs).
//! - [`bundle`]: engine bundle manifests (`bundle.toml`), default-bundle lookup, validation
//!   against the ONNX files.
//! - [`runtime`]: inference backends behind one trait: ONNX Runtime (CPU, CUDA/TensorRT
//!   execution providers, text encoder) and native TensorRT 10 (compiled, not run).
//! - [`kernels`]: pre/post-processing, CPU twins + CUDA sources compiled by NVRTC.
//! - [`mask`], [`rle`]: binary masks, boxes, IoU; COCO RLE identical to pycocotools.
//! - [`vocab`]: class vocabularies and cosine class scoring.
//! - [`tracker`]: UniVS streaming inference: prompts as queries, memory pools, lifecycle.
//! - [`segmenter`]: one frame in, tracked objects out (glues the above).
//! - [`output`], [`command`]: the versioned JSON payload; MQTT commands and their validation.
//! - [`mqtt`]: publishing with QoS, disk spool, reconnects, TLS, command intake (rumqttc).
//! - [`world`]: the synthetic video world with exact ground truth.
//! - [`metrics`], [`eval`]: J&F, video mAP, HOTA, IDF1; the evaluation runner.
pub mod bundle;
pub mod command;
pub mod eval;
pub mod frame;
pub mod frame_result;
pub mod kernels;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod mqtt;
pub mod output;
pub mod rle;
pub mod runtime;
pub mod segmenter;
pub mod tensor;
pub mod tracker;
pub mod vocab;
pub mod world;
