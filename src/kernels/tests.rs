//! Value tests of the CPU twins and the NVRTC compile test of the CUDA sources.
use super::cuda;
use super::postprocess::{paste, MaskUpsampler};
use super::preprocess::{yuv_to_rgb, Preprocessor, BT601};
use crate::frame::{FrameRef, PixelFormat};
use crate::mask::{BBox, Mask};
use crate::tensor::Tensor;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

fn norm(rgb: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|c| (rgb[c] / 255.0 - MEAN[c]) / STD[c])
}

/// An owned frame: planes + strides (padding bytes set to 0xEE so reading them shows).
struct Owned {
    format: PixelFormat,
    w: usize,
    h: usize,
    planes: Vec<Vec<u8>>,
    strides: [usize; 3],
}

impl Owned {
    fn frame(&self) -> FrameRef<'_> {
        let p = |i: usize| self.planes.get(i).map(|v| v.as_slice()).unwrap_or(&[]);
        FrameRef { format: self.format, width: self.w, height: self.h, planes: [p(0), p(1), p(2)], strides: self.strides }
    }
}

/// A frame of one colour: `rgb` for packed formats, `yuv` for I420/NV12; `pad` extra bytes per row.
fn solid(format: PixelFormat, w: usize, h: usize, rgb: [u8; 3], yuv: [u8; 3], pad: usize) -> Owned {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let fill = |row: usize, rows: usize, px: &[u8]| {
        let stride = row + pad;
        let mut v = vec![0xEE; stride * rows];
        for r in 0..rows {
            for (i, b) in v[r * stride..r * stride + row].iter_mut().enumerate() {
                *b = px[i % px.len()];
            }
        }
        (v, stride)
    };
    let planes: Vec<(Vec<u8>, usize)> = match format {
        PixelFormat::Rgb => vec![fill(w * 3, h, &rgb)],
        PixelFormat::Rgba => vec![fill(w * 4, h, &[rgb[0], rgb[1], rgb[2], 255])],
        PixelFormat::Bgrx => vec![fill(w * 4, h, &[rgb[2], rgb[1], rgb[0], 0])],
        PixelFormat::I420 => vec![fill(w, h, &yuv[..1]), fill(cw, ch, &yuv[1..2]), fill(cw, ch, &yuv[2..3])],
        PixelFormat::Nv12 => vec![fill(w, h, &yuv[..1]), fill(cw * 2, ch, &yuv[1..3])],
    };
    let mut s = [0; 3];
    for (i, p) in planes.iter().enumerate() {
        s[i] = p.1;
    }
    Owned { format, w, h, planes: planes.into_iter().map(|p| p.0).collect(), strides: s }
}

fn run(pre: &mut Preprocessor, f: &Owned) -> Tensor {
    let mut out = Tensor::default();
    pre.run(&f.frame(), &mut out).unwrap();
    out
}

fn assert_constant(t: &Tensor, want: [f32; 3], tol: f32, what: &str) {
    assert_eq!(t.shape, vec![1, 3, 16, 24], "{what}");
    let plane = 16 * 24;
    for (c, w) in want.iter().enumerate() {
        for (i, v) in t.data[c * plane..(c + 1) * plane].iter().enumerate() {
            assert!((v - w).abs() <= tol, "{what}: channel {c} pixel {i}: {v} vs {w}");
        }
    }
}

const ALL: [PixelFormat; 5] = [PixelFormat::Rgb, PixelFormat::Rgba, PixelFormat::Bgrx, PixelFormat::I420, PixelFormat::Nv12];

#[test]
fn known_colour_normalises_correctly_in_every_format_and_size() {
    let mut pre = Preprocessor::new(24, 16, MEAN, STD);
    // Limited-range BT.601: Y=81, U=90, V=240 is pure red (255, 0, 0) up to rounding.
    let red_yuv = [81, 90, 240];
    for (w, h, pad) in [(24, 16, 0), (37, 23, 5), (320, 240, 64), (7, 5, 1)] {
        for f in ALL {
            let frame = solid(f, w, h, [255, 0, 0], red_yuv, pad);
            let out = run(&mut pre, &frame);
            // 3/255 of colour tolerance (YUV rounding) in normalised units.
            assert_constant(&out, norm([255.0, 0.0, 0.0]), 3.0 / 255.0 / 0.224, &format!("{f:?} {w}x{h}+{pad}"));
        }
    }
}

#[test]
fn packed_formats_read_their_channel_order() {
    let mut pre = Preprocessor::new(24, 16, MEAN, STD);
    for f in [PixelFormat::Rgb, PixelFormat::Rgba, PixelFormat::Bgrx] {
        let out = run(&mut pre, &solid(f, 30, 20, [200, 100, 50], [0; 3], 3));
        assert_constant(&out, norm([200.0, 100.0, 50.0]), 1e-5, &format!("{f:?}"));
    }
}

#[test]
fn yuv_grey_matches_rgb_grey() {
    let mut pre = Preprocessor::new(24, 16, MEAN, STD);
    for g in [0u8, 37, 128, 200, 255] {
        let y = (16.0 + g as f32 * 219.0 / 255.0).round() as u8;
        let rgb = run(&mut pre, &solid(PixelFormat::Rgb, 33, 21, [g; 3], [0; 3], 0));
        for f in [PixelFormat::I420, PixelFormat::Nv12] {
            let yuv = run(&mut pre, &solid(f, 33, 21, [0; 3], [y, 128, 128], 2));
            let max = rgb.data.iter().zip(&yuv.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(max < 1.0 / 255.0 / 0.224, "{f:?} grey {g}: max difference {max}");
        }
    }
    let white = yuv_to_rgb(235.0, 128.0, 128.0, &BT601);
    assert!(white.iter().all(|&v| (v - 255.0).abs() < 0.5), "{white:?}");
}

#[test]
fn exact_half_downscale_is_the_2x2_average() {
    // A horizontal ramp 0, 10, 20, ... : bilinear at half-pixel centres averages pairs.
    let (w, h) = (48, 32);
    let mut data = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            data[(y * w + x) * 3..][..3].fill((x * 5) as u8);
        }
    }
    let frame = Owned { format: PixelFormat::Rgb, w, h, planes: vec![data], strides: [w * 3, 0, 0] };
    let mut pre = Preprocessor::new(24, 16, [0.0; 3], [1.0; 3]);
    let out = run(&mut pre, &frame);
    for ox in 0..24 {
        let want = ((2 * ox) * 5 + (2 * ox + 1) * 5) as f32 / 2.0 / 255.0;
        assert!((out.data[3 * 24 + ox] - want).abs() < 1e-6, "x {ox}: {} vs {want}", out.data[3 * 24 + ox]);
    }
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    let mut pre = Preprocessor::new(24, 16, MEAN, STD);
    let mut out = Tensor::default();
    let mut f = solid(PixelFormat::Rgba, 10, 10, [1, 2, 3], [0; 3], 0);
    f.planes[0].truncate(399);
    let e = pre.run(&f.frame(), &mut out).unwrap_err().to_string();
    assert_eq!(e, "bad frame: Rgba 10x10 plane 0: 399 bytes, need 400 (stride 40)");
    let mut f = solid(PixelFormat::Nv12, 10, 10, [0; 3], [16, 128, 128], 0);
    f.strides[1] = 8;
    let e = pre.run(&f.frame(), &mut out).unwrap_err().to_string();
    assert_eq!(e, "bad frame: Nv12 plane 1: stride 8 < row size 10");
    let f = Owned { format: PixelFormat::I420, w: 4, h: 4, planes: vec![vec![0; 16]], strides: [4, 2, 2] };
    assert!(pre.run(&f.frame(), &mut out).unwrap_err().to_string().contains("plane 1: 0 bytes"));
}

#[test]
fn upsampled_mask_thresholds_interpolated_logits() {
    // 4x4 logits, positive 2x2 block in the middle -> 16x16 mask.
    let mut logits = vec![-4.0f32; 16];
    for (x, y) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
        logits[y * 4 + x] = 4.0;
    }
    let mut up = MaskUpsampler::new();
    let mut m = Mask::default();
    let b = up.run(&logits, (4, 4), (16, 16), &mut m).unwrap();
    // The 0-crossing lies halfway between cell centres 0.5 and 1.5 -> source x = 1.0 -> output x = 4.
    assert_eq!(b, BBox { x: 4.0, y: 4.0, w: 8.0, h: 8.0 });
    // Bilinear interpolation rounds the block's corners: exactly the 4 corner pixels fall below 0.
    assert_eq!(m.area(), 60);
    assert!(!m.get(4, 4) && !m.get(11, 11) && m.get(5, 4) && m.get(4, 5) && m.get(8, 8));
    assert_eq!(m.bbox(), Some(b));
    // Same size: plain threshold.
    let b = up.run(&logits, (4, 4), (4, 4), &mut m).unwrap();
    assert_eq!((b, m.area()), (BBox { x: 1.0, y: 1.0, w: 2.0, h: 2.0 }, 4));
    // All negative: empty mask, no box; non-square output sizes work.
    assert_eq!(up.run(&[-1.0; 16], (4, 4), (7, 3), &mut m), None);
    assert_eq!((m.width, m.height, m.area()), (7, 3, 0));
    assert_eq!(up.run(&[0.5; 16], (4, 4), (7, 3), &mut m).unwrap(), BBox { x: 0.0, y: 0.0, w: 7.0, h: 3.0 });
}

/// Straightforward bilinear + threshold over every output pixel (the definition).
fn naive_upsample(logits: &[f32], (w4, h4): (usize, usize), (w, h): (usize, usize)) -> Vec<u8> {
    use super::bilinear::source_coord;
    let mut out = vec![0u8; w * h];
    for oy in 0..h {
        let sy = source_coord(oy, h4, h);
        let (y0, fy) = (sy.floor() as usize, sy - sy.floor());
        let y1 = (y0 + 1).min(h4 - 1);
        for ox in 0..w {
            let sx = source_coord(ox, w4, w);
            let (x0, fx) = (sx.floor() as usize, sx - sx.floor());
            let x1 = (x0 + 1).min(w4 - 1);
            let l = |x: usize, y: usize| logits[y * w4 + x];
            let top = l(x0, y0) + (l(x1, y0) - l(x0, y0)) * fx;
            let bottom = l(x0, y1) + (l(x1, y1) - l(x0, y1)) * fx;
            out[oy * w + ox] = (top + (bottom - top) * fy > 0.0) as u8;
        }
    }
    out
}

#[test]
fn upsampling_only_near_positive_cells_matches_the_full_definition() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let mut up = MaskUpsampler::new();
    let mut m = Mask::default();
    for trial in 0..40 {
        let (w4, h4) = (rng.gen_range(1..12), rng.gen_range(1..12));
        // Mostly negative maps with a few positive blobs (the realistic case).
        let logits: Vec<f32> =
            (0..w4 * h4).map(|_| if rng.gen_bool(0.15) { rng.gen_range(0.1..5.0) } else { rng.gen_range(-5.0..-0.1) }).collect();
        let (w, h) = (rng.gen_range(1..90), rng.gen_range(1..90));
        let b = up.run(&logits, (w4, h4), (w, h), &mut m);
        let want = naive_upsample(&logits, (w4, h4), (w, h));
        let diff = m.data.iter().zip(&want).filter(|(a, b)| a != b).count();
        // Row-first vs column-first blending may differ in the last float bit at a 0-crossing.
        assert!(diff <= 1, "trial {trial}: {w4}x{h4} -> {w}x{h}: {diff} pixels differ");
        assert_eq!(b, m.bbox(), "trial {trial}");
    }
}

#[test]
fn cropping_to_the_window_and_pasting_gives_the_full_mask_and_its_box() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(23);
    let (mut up, mut full, mut pasted, mut pixels) = (MaskUpsampler::new(), Mask::default(), Mask::default(), Vec::new());
    let mut smaller = 0;
    for trial in 0..60 {
        let (w4, h4) = (rng.gen_range(1..20), rng.gen_range(1..20));
        let logits: Vec<f32> =
            (0..w4 * h4).map(|_| if rng.gen_bool(0.03) { rng.gen_range(0.1..5.0) } else { rng.gen_range(-5.0..-0.1) }).collect();
        let (w, h) = (rng.gen_range(1..200), rng.gen_range(1..200));
        let want = up.run(&logits, (w4, h4), (w, h), &mut full);
        let Some(win) = up.window(&logits, (w4, h4), (w, h)) else {
            assert_eq!(want, None, "trial {trial}: no window means no foreground");
            continue;
        };
        up.crop(&logits, (w4, h4), (w, h), win, &mut pixels);
        assert_eq!(pixels.len(), win.area());
        let got = paste(win, &pixels, (w, h), &mut pasted);
        assert_eq!((got, &pasted), (want, &full), "trial {trial}: {w4}x{h4} -> {w}x{h} window {win:?}");
        smaller += (win.area() < w * h) as usize;
    }
    assert!(smaller > 30, "the window is the point: it must usually be smaller than the mask ({smaller}/60)");
}

fn require_nvrtc() {
    // Needs libnvrtc.so.12: found on the library path or in the nvidia-cuda-nvrtc-cu12 wheel.
    assert!(
        cuda::nvrtc_available(),
        "libnvrtc.so.12 not found: `pip install nvidia-cuda-nvrtc-cu12` (or put its lib dir on LD_LIBRARY_PATH)"
    );
}

#[test]
fn nvrtc_compiles_every_cuda_kernel_to_a_cubin_for_each_real_target() {
    use cuda::nvrtc::{compile_for, Image, REAL_TARGETS};
    require_nvrtc();
    for src in &cuda::SOURCES {
        for arch in REAL_TARGETS {
            let Image::Cubin(bytes) = compile_for(src, arch).unwrap_or_else(|e| panic!("{arch}: {e}")) else {
                panic!("{}: {arch} must give a CUBIN", src.file)
            };
            assert_eq!(&bytes[..4], b"\x7fELF", "{} {arch}: a CUBIN is an ELF image", src.file);
            for entry in src.entries {
                let found = bytes.windows(entry.len() + 1).any(|w| &w[..entry.len()] == entry.as_bytes() && w[entry.len()] == 0);
                assert!(found, "{} {arch}: no symbol {entry} in the CUBIN", src.file);
            }
        }
    }
}

#[test]
fn ptx_for_a_virtual_target_names_it_and_the_isa_of_this_nvrtc() {
    use cuda::nvrtc::{compile_for, ptx_isa, version, Image};
    require_nvrtc();
    let (major, minor) = version().unwrap();
    let Image::Ptx(text) = compile_for(&cuda::SOURCES[1], "compute_72").unwrap() else { panic!("compute_72 gives PTX") };
    assert!(text.contains(".target sm_72"), "PTX targets sm_72");
    assert!(text.contains(".entry upsample_threshold_window("));
    // PTX ISA follows the NVRTC release (12.x -> 8.y): a driver older than this NVRTC refuses
    // the PTX, which is why devices load a CUBIN compiled for their own sm (cuda::nvrtc docs).
    let (isa_major, _) = ptx_isa(&text).expect(".version line");
    assert_eq!((major, isa_major), (12, 8), "NVRTC {major}.{minor} wrote PTX ISA {isa_major}.x");
}

#[test]
fn a_compile_error_names_the_file_and_nvrtc_log() {
    require_nvrtc();
    let bad = cuda::KernelSource { file: "broken.cu", source: "extern \"C\" __global__ void k() { undefined_call(); }", entries: &["k"] };
    let e = cuda::nvrtc::compile_for(&bad, "sm_87").err().expect("must fail").to_string();
    assert!(e.starts_with("NVRTC failed on broken.cu") && e.contains("undefined_call"), "{e}");
}

#[test]
fn gpu_launch_path_reports_missing_driver_instead_of_panicking() {
    // This machine has no GPU driver; the launch path must say so (it is compiled, not run).
    if !cuda::driver_available() {
        let e = cuda::GpuKernels::new(0).err().expect("no driver: must fail").to_string();
        assert_eq!(e, "libcuda is not available (CUDA library not found on the library path)");
    } else {
        // A machine with a driver: opening must at least not panic; report what happened.
        let r = cuda::GpuKernels::new(0);
        eprintln!("CUDA driver present; GpuKernels::new(0) ok = {}", r.is_ok());
    }
}
