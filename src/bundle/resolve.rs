//! Which bundle directory to load when the user did not name one.
//!
//! Search order (first hit wins):
//! 1. the explicit path (element property `model`, CLI flag, config file);
//! 2. the environment variable `SEGSTREAM_MODEL` (when set and non-empty);
//! 3. the bundled default `engines/tiny`, looked up
//!    a. next to the executable and in each of its ancestors (`target/release/segstream`
//!    finds `<repo>/engines/tiny`; a relocated tree `<prefix>/bin/..` works too),
//!    b. next to the shared library this code is in (the GStreamer plugin
//!    `libgstsegstream.so`) and its ancestors, also as `<ancestor>/share/segstream/...`
//!    (a plugin in `<prefix>/lib/gstreamer-1.0` finds `<prefix>/share/segstream`),
//!    c. under an install prefix: `<exe>/../share/segstream/engines/tiny`, then
//!    `/usr/local/share/segstream/engines/tiny`, `/usr/share/segstream/engines/tiny`,
//!    d. in the source tree this crate was built from (`CARGO_MANIFEST_DIR`), which is what
//!    tests and a plugin loaded by `gst-launch-1.0` (whose executable lives in /usr/bin)
//!    fall back to in a development checkout.
//!
//! An explicit path or `SEGSTREAM_MODEL` that does not exist is an error: silently
//! loading another model than the one asked for would be worse than failing.
use std::path::{Path, PathBuf};

use super::BundleError;

pub const ENV_MODEL: &str = "SEGSTREAM_MODEL";
const DEFAULT_REL: &str = "engines/tiny";

/// Resolves the bundle directory (see the module comment for the order).
pub fn resolve_bundle_dir(explicit: Option<&Path>) -> Result<PathBuf, BundleError> {
    if let Some(p) = explicit {
        return existing(p, "model");
    }
    if let Some(p) = std::env::var_os(ENV_MODEL).filter(|v| !v.is_empty()) {
        return existing(Path::new(&p), ENV_MODEL);
    }
    let candidates = default_candidates();
    candidates.iter().find(|c| c.join("bundle.toml").is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        BundleError::NotFound(format!(
            "no model given (property/flag `model` or {ENV_MODEL}) and the default bundle is in none of: {}",
            list.join(", ")
        ))
    })
}

fn existing(p: &Path, source: &str) -> Result<PathBuf, BundleError> {
    if p.is_dir() {
        Ok(p.to_path_buf())
    } else {
        Err(BundleError::NotFound(format!("{} (from {source}) is not a directory", p.display())))
    }
}

/// Candidate directories for the bundled default, in search order.
pub fn default_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.extend(exe_dir.ancestors().map(|a| a.join(DEFAULT_REL)));
        if let Some(prefix) = exe_dir.parent() {
            out.push(prefix.join("share/segstream").join(DEFAULT_REL));
        }
    }
    if let Some(lib_dir) = this_module_dir() {
        for a in lib_dir.ancestors() {
            out.push(a.join(DEFAULT_REL));
            out.push(a.join("share/segstream").join(DEFAULT_REL));
        }
    }
    out.push(Path::new("/usr/local/share/segstream").join(DEFAULT_REL));
    out.push(Path::new("/usr/share/segstream").join(DEFAULT_REL));
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_REL));
    out
}

/// Directory of the executable or shared library containing this function (dladdr).
fn this_module_dir() -> Option<PathBuf> {
    // SAFETY: dladdr only reads loader tables; Dl_info is plain data, zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = this_module_dir as *const libc::c_void;
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }.to_str().ok()?;
    Path::new(name).canonicalize().ok()?.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_bundle_dir(Some(dir.path())).unwrap(), dir.path());
        let e = resolve_bundle_dir(Some(Path::new("/no/such/bundle"))).unwrap_err().to_string();
        assert_eq!(e, "model bundle not found: /no/such/bundle (from model) is not a directory");
    }

    #[test]
    fn default_candidates_cover_exe_ancestors_prefix_and_source_tree() {
        let c = default_candidates();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(c[0], exe.parent().unwrap().join("engines/tiny"));
        assert!(c.contains(&Path::new("/usr/share/segstream/engines/tiny").to_path_buf()));
        // The module holding this code is the test executable itself here.
        assert_eq!(this_module_dir().unwrap(), exe.canonicalize().unwrap().parent().unwrap());
        assert_eq!(c.last().unwrap(), &Path::new(env!("CARGO_MANIFEST_DIR")).join("engines/tiny"));
    }
}
