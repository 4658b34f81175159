//! The CUDA sources themselves, executed on the CPU and compared with the CPU twins.
//!
//! No GPU exists here, so `src/kernels/cuda/*.cu` is compiled as C++ with
//! `src/kernels/cuda/host_harness.h` (CUDA builtins as plain globals) into a shared library,
//! and each kernel runs once per (block, thread) of the launch grid the GPU path uses
//! (`cuda::launch_dims`), with its arguments passed as cuLaunchKernel passes them. What this
//! checks: the kernels' indexing, sampling and arithmetic. What it cannot: anything about a
//! real GPU (scheduling, memory model, the driver); that stays "compiled, not run".
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;

use segstream::frame::{FrameRef, PixelFormat};
use segstream::kernels::cuda::{launch_dims, packed_layout, SOURCES};
use segstream::kernels::preprocess::yuv_matrix;
use segstream::kernels::{paste, MaskUpsampler, Preprocessor, Window};
use segstream::mask::Mask;
use segstream::tensor::Tensor;

type HostLaunch = unsafe extern "C" fn(u32, u32, u32, u32, *mut *mut c_void);

/// Largest |CUDA - CPU| allowed in the normalised model input: both sides compute the same
/// formula in f32, but the compiler may contract a*b+c into an FMA on one side only.
const PREPROCESS_TOLERANCE: f32 = 1e-4;

struct HostKernels {
    _dir: tempfile::TempDir,
    libs: Vec<libloading::Library>,
}

impl HostKernels {
    /// Compiles every `.cu` file with the host harness (the system C++ compiler).
    fn build() -> HostKernels {
        let cuda_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kernels/cuda");
        let dir = tempfile::tempdir().unwrap();
        let libs = SOURCES.iter().map(|src| load(&compile(&cuda_dir, dir.path(), src.file, src.entries))).collect();
        HostKernels { _dir: dir, libs }
    }

    fn kernel(&self, name: &str) -> HostLaunch {
        let symbol = format!("host_{name}");
        for lib in &self.libs {
            // SAFETY: every host_<kernel> symbol has the HostLaunch signature (host_harness.h).
            if let Ok(f) = unsafe { lib.get::<HostLaunch>(symbol.as_bytes()) } {
                return *f;
            }
        }
        panic!("no {symbol} in the host libraries")
    }

    /// Runs `name` over the grid that covers `w` x `h`, as the GPU path launches it.
    fn launch(&self, name: &str, (w, h): (usize, usize), args: &mut [*mut c_void]) {
        let ((gx, gy), (bx, by)) = launch_dims(w, h);
        // SAFETY: `args` holds one pointer per kernel parameter, in order, each pointing at a
        // value of the parameter's type; the buffers they point to are sized by the caller.
        unsafe { self.kernel(name)(gx, gy, bx, by, args.as_mut_ptr()) }
    }
}

fn compile(cuda_dir: &Path, out: &Path, file: &str, entries: &[&str]) -> PathBuf {
    let stem = file.trim_end_matches(".cu");
    let unit = out.join(format!("{stem}_host.cpp"));
    let exports: String = entries.iter().map(|e| format!("SEGSTREAM_HOST_EXPORT({e})\n")).collect();
    std::fs::write(&unit, format!("#include \"host_harness.h\"\n#include \"{file}\"\n{exports}")).unwrap();
    let lib = out.join(format!("lib{stem}_host.so"));
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    // -ffp-contract=off: no FMA contraction, so the host build computes each step as written.
    let status = Command::new(&cxx)
        .args(["-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-x", "c++"])
        .arg("-I")
        .arg(cuda_dir)
        .arg(&unit)
        .arg("-o")
        .arg(&lib)
        .status()
        .unwrap_or_else(|e| panic!("{cxx} (the C++ compiler) must be installed: {e}"));
    assert!(status.success(), "{cxx} failed on {file} with the host harness");
    lib
}

fn load(path: &Path) -> libloading::Library {
    // SAFETY: our own freshly built library; its initialisers only set up globals.
    unsafe { libloading::Library::new(path) }.unwrap()
}

fn arg<T>(v: &mut T) -> *mut c_void {
    (v as *mut T).cast()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

struct Frame {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: Vec<Vec<u8>>,
    strides: [usize; 3],
}

impl Frame {
    /// A frame with random content and `pad` extra bytes at the end of every row.
    fn random(format: PixelFormat, width: usize, height: usize, pad: usize, seed: u64) -> Frame {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let rows: Vec<(usize, usize)> = match format {
            PixelFormat::Rgb => vec![(3 * width + pad, height)],
            PixelFormat::Rgba | PixelFormat::Bgrx => vec![(4 * width + pad, height)],
            PixelFormat::I420 => vec![(width + pad, height), (cw + pad, ch), (cw + pad, ch)],
            PixelFormat::Nv12 => vec![(width + pad, height), (2 * cw + pad, ch)],
        };
        let mut strides = [0; 3];
        let planes = rows
            .iter()
            .enumerate()
            .map(|(i, &(stride, h))| {
                strides[i] = stride;
                bytes(stride * h, seed + i as u64)
            })
            .collect();
        Frame { format, width, height, planes, strides }
    }

    fn as_ref(&self) -> FrameRef<'_> {
        let plane = |i: usize| self.planes.get(i).map(|p| p.as_slice()).unwrap_or(&[]);
        FrameRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: [plane(0), plane(1), plane(2)],
            strides: self.strides,
        }
    }
}

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `preprocess_*` on the host harness with the arguments `GpuKernels::preprocess` passes.
fn preprocess_cuda(k: &HostKernels, pre: &Preprocessor, f: &mut Frame, (ow, oh): (usize, usize)) -> Vec<f32> {
    let mut out = vec![f32::NAN; 3 * ow * oh];
    let (scale, bias) = pre.scale_bias();
    let m = yuv_matrix(f.height);
    let mut matrix = [m.rv, m.gu, m.gv, m.bu];
    let (mut w, mut h) = (f.width as i32, f.height as i32);
    let [mut s0, mut s1, mut s2] = f.strides.map(|s| s as i32);
    let (mut ow_i, mut oh_i) = (ow as i32, oh as i32);
    let mut out_p = out.as_mut_ptr();
    let (mut scale_p, mut bias_p) = (scale.as_ptr(), bias.as_ptr());
    let mut mat_p = matrix.as_mut_ptr();
    let mut planes: Vec<*mut u8> = f.planes.iter_mut().map(|p| p.as_mut_ptr()).collect();
    let (mut bpp, [mut r, mut g, mut b]) = packed_layout(f.format);
    let mut args: Vec<*mut c_void> = planes.iter_mut().map(arg).collect();
    let name = match f.format {
        PixelFormat::I420 => {
            args.extend([arg(&mut w), arg(&mut h), arg(&mut s0), arg(&mut s1), arg(&mut s2), arg(&mut mat_p)]);
            "preprocess_i420"
        }
        PixelFormat::Nv12 => {
            args.extend([arg(&mut w), arg(&mut h), arg(&mut s0), arg(&mut s1), arg(&mut mat_p)]);
            "preprocess_nv12"
        }
        _ => {
            args.extend([arg(&mut w), arg(&mut h), arg(&mut s0), arg(&mut bpp), arg(&mut r), arg(&mut g), arg(&mut b)]);
            "preprocess_packed"
        }
    };
    args.extend([arg(&mut out_p), arg(&mut ow_i), arg(&mut oh_i), arg(&mut scale_p), arg(&mut bias_p)]);
    k.launch(name, (ow, oh), &mut args);
    out
}

#[test]
fn preprocess_cu_matches_the_cpu_twin_on_every_format_size_and_stride() {
    let k = HostKernels::build();
    let formats = [PixelFormat::Rgb, PixelFormat::Rgba, PixelFormat::Bgrx, PixelFormat::I420, PixelFormat::Nv12];
    // Frame sizes: tiny, odd (chroma rounding), non-square, HD-like; output sizes below,
    // equal to and above the frame, and not multiples of the 16x16 block.
    let frames = [(1, 1), (2, 3), (17, 9), (64, 48), (321, 241), (1280, 720)];
    let outputs = [(1, 1), (7, 5), (64, 48), (320, 320)];
    let mut worst = 0.0f32;
    let mut cases = 0;
    for (fi, &format) in formats.iter().enumerate() {
        for (si, &(w, h)) in frames.iter().enumerate() {
            for pad in [0, 5] {
                let seed = (fi * 100 + si * 10 + pad) as u64;
                let mut frame = Frame::random(format, w, h, pad, seed);
                for &(ow, oh) in &outputs {
                    let mut pre = Preprocessor::new(ow, oh, MEAN, STD);
                    let mut cpu = Tensor::zeros(&[1, 3, oh, ow]);
                    pre.run(&frame.as_ref(), &mut cpu).unwrap();
                    let gpu = preprocess_cuda(&k, &pre, &mut frame, (ow, oh));
                    let diff = cpu.data.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                    assert!(
                        diff <= PREPROCESS_TOLERANCE,
                        "{format:?} {w}x{h} pad {pad} -> {ow}x{oh}: max |cuda - cpu| = {diff} (NaN: a pixel was not written)"
                    );
                    worst = worst.max(diff);
                    cases += 1;
                }
            }
        }
    }
    eprintln!("preprocess.cu vs CPU twin: {cases} cases, max abs difference {worst:e}");
}

/// `upsample_threshold_window` on the host harness with the arguments `GpuKernels` passes.
fn window_cuda(k: &HostKernels, logits: &[f32], (w4, h4): (usize, usize), (ow, oh): (usize, usize), win: Window) -> Vec<u8> {
    let mut out = vec![7u8; win.area()]; // 7: a pixel the kernel did not write
    let (mut src, mut dst) = (logits.as_ptr(), out.as_mut_ptr());
    let [mut a, mut b, mut c, mut d] = [w4, h4, ow, oh].map(|v| v as i32);
    let [mut x, mut y, mut w, mut h] = [win.x, win.y, win.w, win.h].map(|v| v as i32);
    let mut args = [
        arg(&mut src),
        arg(&mut a),
        arg(&mut b),
        arg(&mut c),
        arg(&mut d),
        arg(&mut x),
        arg(&mut y),
        arg(&mut w),
        arg(&mut h),
        arg(&mut dst),
    ];
    k.launch("upsample_threshold_window", (win.w, win.h), &mut args);
    out
}

/// Logits around zero, so the threshold decides many pixels by a small margin.
fn logits_near_zero(n: usize, seed: u64) -> Vec<f32> {
    bytes(n, seed).iter().map(|&b| (b as f32 - 127.5) / 16.0).collect()
}

#[test]
fn postprocess_cu_over_the_whole_frame_gives_the_same_mask_as_the_cpu_twin() {
    let k = HostKernels::build();
    let mut up = MaskUpsampler::new();
    let mut cases = 0;
    for (i, &((w4, h4), (ow, oh))) in
        [((1, 1), (1, 1)), ((80, 80), (320, 240)), ((80, 80), (1280, 720)), ((13, 7), (50, 31)), ((64, 48), (33, 17))].iter().enumerate()
    {
        let logits = logits_near_zero(w4 * h4, 7 + i as u64);
        let mut cpu = Mask::new(0, 0);
        up.run(&logits, (w4, h4), (ow, oh), &mut cpu);
        let gpu = window_cuda(&k, &logits, (w4, h4), (ow, oh), Window { x: 0, y: 0, w: ow, h: oh });
        let differing = cpu.data.iter().zip(&gpu).filter(|(x, y)| x != y).count();
        assert_eq!(differing, 0, "{w4}x{h4} -> {ow}x{oh}: {differing} pixels differ");
        cases += 1;
    }
    eprintln!("postprocess.cu (whole frame) vs CPU twin: {cases} cases, identical masks");
}

/// The GPU path's masks: the window kernel's bytes equal the CPU twin's crop, and pasted
/// back they give the CPU path's mask and box, while only the window crosses the bus.
#[test]
fn postprocess_cu_cropped_to_the_window_matches_the_cpu_crop_twin() {
    let k = HostKernels::build();
    let mut up = MaskUpsampler::new();
    let (mut twin, mut full, mut pasted) = (Vec::new(), Mask::default(), Mask::default());
    let (mut cases, mut window_bytes, mut mask_bytes) = (0, 0, 0);
    let sizes = [((80, 80), (1920, 1080)), ((80, 80), (1280, 720)), ((80, 80), (320, 320)), ((13, 7), (50, 31)), ((5, 9), (3, 2))];
    for (i, &((w4, h4), (ow, oh))) in sizes.iter().enumerate() {
        for blob in 0..8u64 {
            // A few positive cells in a negative map: one object of a few cells.
            let mut logits: Vec<f32> = logits_near_zero(w4 * h4, 100 * i as u64 + blob).iter().map(|v| -v.abs() - 0.01).collect();
            let (cx, cy, r) = ((blob as usize * 7) % w4, (blob as usize * 5) % h4, 1 + blob as usize % 4);
            for y in cy.saturating_sub(r)..(cy + r).min(h4) {
                for x in cx.saturating_sub(r)..(cx + r).min(w4) {
                    logits[y * w4 + x] = logits_near_zero(1, (x * 31 + y) as u64)[0].abs() + 0.01 * blob as f32;
                }
            }
            let want = up.run(&logits, (w4, h4), (ow, oh), &mut full);
            let Some(win) = up.window(&logits, (w4, h4), (ow, oh)) else {
                assert_eq!(want, None);
                continue;
            };
            up.crop(&logits, (w4, h4), (ow, oh), win, &mut twin);
            let gpu = window_cuda(&k, &logits, (w4, h4), (ow, oh), win);
            assert_eq!(gpu, twin, "{w4}x{h4} -> {ow}x{oh} window {win:?}: kernel and crop twin differ (7 = not written)");
            assert_eq!(paste(win, &gpu, (ow, oh), &mut pasted), want, "{w4}x{h4} -> {ow}x{oh}: box");
            assert_eq!(pasted, full, "{w4}x{h4} -> {ow}x{oh}: pasted mask");
            (cases, window_bytes, mask_bytes) = (cases + 1, window_bytes + win.area(), mask_bytes + ow * oh);
        }
    }
    assert!(cases >= 30, "{cases} cases had foreground");
    eprintln!("postprocess.cu (window) vs CPU crop twin: {cases} cases identical; {window_bytes} window bytes for {mask_bytes} mask bytes");
}
