//! Plans are checked against the bundle before TensorRT sees them.
//!
//! A plan is compiled from one ONNX file; after the bundle changes (a retrained model, an
//! export at another size) an old plan would still load and give wrong or mis-shaped
//! results at the first frame. `deploy/tensorrt/build-engines.sh` writes, beside each plan,
//! `<model>.plan.source` with the SHA-256 of the ONNX file it was built from; opening
//! compares that with the bundle's file and refuses a stale or unstamped plan.
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The stamp file beside `plan`.
pub fn stamp_path(plan: &Path) -> PathBuf {
    let mut name = plan.file_name().unwrap_or_default().to_os_string();
    name.push(".source");
    plan.with_file_name(name)
}

/// Hex SHA-256 of a file, read in blocks (ONNX files can be hundreds of MB).
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The `onnx_sha256` recorded in a stamp (`onnx_sha256 = "<64 hex digits>"`).
fn recorded_sha(stamp: &str) -> Option<&str> {
    let line = stamp.lines().find_map(|l| l.trim().strip_prefix("onnx_sha256"))?;
    let v = line.trim().strip_prefix('=')?.trim().trim_matches('"');
    (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then_some(v)
}

/// Ok when `plan` was built from `onnx` as it is now; otherwise what to do about it.
pub fn check_plan(plan: &Path, onnx: &Path, bundle_dir: &Path) -> Result<(), String> {
    let rebuild = format!("rebuild it on this device: deploy/tensorrt/build-engines.sh {}", bundle_dir.display());
    if !plan.is_file() {
        return Err(format!(
            "TensorRT plan {} is missing: build it on this device with deploy/tensorrt/build-engines.sh {}",
            plan.display(),
            bundle_dir.display()
        ));
    }
    let stamp_file = stamp_path(plan);
    let stamp = std::fs::read_to_string(&stamp_file).map_err(|_| {
        format!("TensorRT plan {} has no {} (which ONNX it was built from); {rebuild}", plan.display(), stamp_file.display())
    })?;
    let want = recorded_sha(&stamp).ok_or_else(|| format!("{}: no valid onnx_sha256 line; {rebuild}", stamp_file.display()))?;
    let have = sha256_file(onnx)?;
    if have != want {
        return Err(format!(
            "TensorRT plan {} is stale: built from an ONNX file with SHA-256 {}…, but {} is {}…; {rebuild}",
            plan.display(),
            &want[..12],
            onnx.display(),
            &have[..12]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("image_encoder.onnx");
        std::fs::write(&onnx, b"onnx bytes v1").unwrap();
        std::fs::create_dir(dir.path().join("tensorrt")).unwrap();
        let plan = dir.path().join("tensorrt/image_encoder.plan");
        std::fs::write(&plan, b"plan").unwrap();
        (dir, onnx, plan)
    }

    #[test]
    fn a_plan_stamped_with_the_current_onnx_passes() {
        let (dir, onnx, plan) = setup();
        std::fs::write(stamp_path(&plan), format!("onnx_sha256 = \"{}\"\n", sha256_file(&onnx).unwrap())).unwrap();
        assert_eq!(check_plan(&plan, &onnx, dir.path()), Ok(()));
        // The hash is the standard SHA-256 (what sha256sum in build-engines.sh writes): FIPS 180-2 "abc" vector.
        let abc = dir.path().join("abc");
        std::fs::write(&abc, b"abc").unwrap();
        assert_eq!(sha256_file(&abc).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_plan_built_from_another_onnx_is_refused_as_stale() {
        let (dir, onnx, plan) = setup();
        std::fs::write(stamp_path(&plan), format!("onnx_sha256 = \"{}\"\n", sha256_file(&onnx).unwrap())).unwrap();
        std::fs::write(&onnx, b"onnx bytes v2 (retrained)").unwrap();
        let e = check_plan(&plan, &onnx, dir.path()).unwrap_err();
        assert!(e.contains("is stale") && e.contains("build-engines.sh"), "{e}");
    }

    #[test]
    fn unstamped_and_missing_plans_say_what_to_build() {
        let (dir, onnx, plan) = setup();
        let e = check_plan(&plan, &onnx, dir.path()).unwrap_err();
        assert!(e.contains("image_encoder.plan.source") && e.contains("build-engines.sh"), "{e}");
        std::fs::write(stamp_path(&plan), "onnx_sha256 = \"not hex\"\n").unwrap();
        assert!(check_plan(&plan, &onnx, dir.path()).unwrap_err().contains("no valid onnx_sha256"));
        std::fs::remove_file(&plan).unwrap();
        assert!(check_plan(&plan, &onnx, dir.path()).unwrap_err().contains("is missing"));
    }
}
