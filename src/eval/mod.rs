//! `segstream eval`: standard result formats and their scores against the synthetic
//! world's ground truth (the CLI in `plugins/src/bin/segstream/eval.rs` is thin glue).
pub mod formats;
pub mod score;
