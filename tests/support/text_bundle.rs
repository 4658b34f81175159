//! Shared by the core and plugin tests (included with `#[path]`): a copy of a bundle
//! without its text encoder, to test the errors of open-vocabulary requests.
use std::path::{Path, PathBuf};

/// `src` without `text_encoder.onnx` / `tokenizer.json`: model files linked into `dir`,
/// manifest edited.
pub fn bundle_without_text(src: &Path, dir: &Path) -> PathBuf {
    for f in ["image_encoder.onnx", "mask_decoder.onnx", "prompt_decoder.onnx", "vocabulary.json"] {
        if src.join(f).exists() {
            std::os::unix::fs::symlink(src.join(f), dir.join(f)).unwrap();
        }
    }
    let toml = std::fs::read_to_string(src.join("bundle.toml")).unwrap();
    std::fs::write(dir.join("bundle.toml"), without_text_sections(&toml)).unwrap();
    dir.to_path_buf()
}

/// Drops the text encoder's `[[tensors]]` sections and `[files]` entries of a manifest.
fn without_text_sections(toml: &str) -> String {
    let mut sections: Vec<String> = vec![String::new()];
    for line in toml.lines() {
        if line.starts_with('[') {
            sections.push(String::new());
        }
        if !line.starts_with("text_encoder =") && !line.starts_with("tokenizer =") {
            let s = sections.last_mut().unwrap();
            s.push_str(line);
            s.push('\n');
        }
    }
    sections.retain(|s| !(s.starts_with("[[tensors]]") && s.contains("file = \"text_encoder\"")));
    sections.concat()
}
