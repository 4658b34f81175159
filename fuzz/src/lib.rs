//! Fuzz target bodies, shared with the corpus replay tests of `cargo test`.
#[path = "../bodies/core.rs"]
pub mod core;
#[path = "../bodies/plugin.rs"]
pub mod plugin;
