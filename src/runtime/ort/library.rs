//! Finding and loading `libonnxruntime` (ort `load-dynamic`).
//!
//! The library comes from the `onnxruntime==1.22.1` PyPI wheel (ort 2.0.0-rc.10 pairs with
//! ONNX Runtime 1.22). Search order: `ORT_DYLIB_PATH`; the wheel of the `python3` on PATH
//! (`<onnxruntime>/capi/libonnxruntime.so*`); common site-packages locations. ort rc.10
//! panics at first use when the path is wrong, so the path is checked here first and
//! initialisation happens once per process.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const ORT_ENV: &str = "ORT_DYLIB_PATH";
const HINT: &str = "install it with `pip install onnxruntime==1.22.1` or set ORT_DYLIB_PATH to libonnxruntime.so";

static INIT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Loads ONNX Runtime once; later calls return the first outcome.
pub fn ensure_initialised() -> Result<&'static Path, String> {
    INIT.get_or_init(|| {
        let path = find_library()?;
        ort::init_from(path.display().to_string())
            .with_name("segstream")
            .commit()
            .map_err(|e| format!("loading ONNX Runtime from {} failed: {e}; {HINT}", path.display()))?;
        tracing::info!(path = %path.display(), "ONNX Runtime loaded");
        Ok(path)
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// Locates `libonnxruntime.so*` without loading it.
pub fn find_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(ORT_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("{ORT_ENV}={} does not exist; {HINT}", p.display())) };
    }
    let mut dirs: Vec<PathBuf> = python_wheel_dir().into_iter().collect();
    dirs.extend(site_packages_guesses());
    dirs.iter().find_map(|d| library_in(d)).ok_or_else(|| format!("ONNX Runtime (libonnxruntime.so) not found; {HINT}"))
}

/// `<site-packages>/onnxruntime/capi` of the `python3` on PATH, if it has the wheel.
fn python_wheel_dir() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| Path::new(dir).join("capi"))
}

/// Typical site-packages of Debian, venvs under $HOME and pyenv.
fn site_packages_guesses() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["/usr/local/lib", "/usr/lib"].iter().map(PathBuf::from).collect();
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        roots.push(home.join(".local/lib"));
        if let Ok(versions) = std::fs::read_dir(home.join(".pyenv/versions")) {
            roots.extend(versions.flatten().map(|v| v.path().join("lib")));
        }
    }
    let mut out = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else { continue };
        for e in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("python3")) {
            for sp in ["site-packages", "dist-packages"] {
                out.push(e.path().join(sp).join("onnxruntime/capi"));
            }
        }
    }
    out
}

/// The newest-looking `libonnxruntime.so*` in `dir` (not the providers_shared helper).
fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut libs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so")))
        .collect();
    libs.sort();
    libs.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_wheel_library_in_a_capi_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(library_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"").unwrap();
        assert_eq!(library_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime.so.1.22.1"), b"").unwrap();
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libonnxruntime.so.1.22.1")));
    }

    #[test]
    fn installed_wheel_is_found_without_variables() {
        // The test machine has onnxruntime==1.22.1 installed (CI installs it too).
        let p = find_library().unwrap();
        match std::env::var_os(ORT_ENV) {
            Some(v) => assert_eq!(p, PathBuf::from(v)),
            None => assert!(p.to_string_lossy().contains("libonnxruntime.so.1.22"), "{}", p.display()),
        }
    }
}
