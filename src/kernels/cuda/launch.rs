//! The kernels loaded on one GPU, with the buffers they keep between frames.
//! COMPILED, NOT RUN (see the module doc of `kernels::cuda`).
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, PushKernelArg};

use super::staging::{ensure, Direction, Pinned};
use super::{compile_for_device, driver, driver_available, grid, packed_layout, CudaError, SOURCES};
use crate::frame::{FrameRef, PixelFormat};
use crate::kernels::postprocess::{paste, MaskUpsampler, Window};
use crate::kernels::preprocess::{check_frame, yuv_matrix, Preprocessor};
use crate::mask::{BBox, Mask};
use crate::model::DeviceImage;
use crate::tensor::Tensor;

/// Loaded kernels on one GPU plus the buffers reused from frame to frame.
pub struct GpuKernels {
    ctx: Arc<CudaContext>,
    /// A stream of our own (not the legacy null stream, which serialises with every other).
    stream: Arc<CudaStream>,
    packed: CudaFunction,
    i420: CudaFunction,
    nv12: CudaFunction,
    window: CudaFunction,
    /// The frame's planes, back to back: pinned staging and the device copy.
    frame_up: Pinned<u8>,
    frame: Option<CudaSlice<u8>>,
    /// The model input [1, 3, H, W]: written by preprocessing, read by the encoder.
    image: Option<CudaSlice<f32>>,
    /// scale[3], bias[3], YUV matrix[4]; uploaded only when they change.
    consts: Option<CudaSlice<f32>>,
    consts_host: [f32; 10],
    /// Every kept object's mask logits, back to back.
    logits_up: Pinned<f32>,
    logits: Option<CudaSlice<f32>>,
    /// Every object's mask window, back to back.
    windows: Option<CudaSlice<u8>>,
    windows_down: Pinned<u8>,
    /// Per object: its window and the window's offset in `windows` (reused).
    plan: Vec<Option<(Window, usize)>>,
}

impl GpuKernels {
    /// Compiles and loads every kernel on GPU `ordinal`.
    pub fn new(ordinal: usize) -> Result<GpuKernels, CudaError> {
        if !driver_available() {
            return Err(CudaError::Missing("libcuda"));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver)?;
        let cc = ctx.compute_capability().map_err(driver)?;
        let pre = ctx.load_module(compile_for_device(&SOURCES[0], cc)?).map_err(driver)?;
        let post = ctx.load_module(compile_for_device(&SOURCES[1], cc)?).map_err(driver)?;
        let f = |m: &Arc<cudarc::driver::CudaModule>, n: &str| m.load_function(n).map_err(driver);
        Ok(GpuKernels {
            stream: ctx.new_stream().map_err(driver)?,
            packed: f(&pre, "preprocess_packed")?,
            i420: f(&pre, "preprocess_i420")?,
            nv12: f(&pre, "preprocess_nv12")?,
            window: f(&post, "upsample_threshold_window")?,
            frame_up: Pinned::new(Direction::Up),
            frame: None,
            image: None,
            consts: None,
            consts_host: [f32::NAN; 10],
            logits_up: Pinned::new(Direction::Up),
            logits: None,
            windows: None,
            windows_down: Pinned::new(Direction::Down),
            plan: Vec::new(),
            ctx,
        })
    }

    /// The stream every kernel of this instance runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// GPU twin of [`Preprocessor::run`] whose result stays on the device: the frame goes
    /// up once (pinned), the image is left in a device buffer for the encoder. Asynchronous:
    /// consumers wait on [`DeviceImage::stream`].
    pub fn preprocess_to_device(&mut self, pre: &Preprocessor, frame: &FrameRef) -> Result<DeviceImage<'_>, CudaError> {
        check_frame(frame).map_err(|e| CudaError::Driver(e.to_string()))?;
        // The previous frame's upload reads the staging buffer until it completes.
        self.stream.synchronize().map_err(driver)?;
        let n_planes = match frame.format {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        };
        let lens: Vec<usize> = (0..3).map(|i| if i < n_planes { frame.planes[i].len() } else { 0 }).collect();
        let total: usize = lens.iter().sum();
        let staged = self.frame_up.get(&self.ctx, total)?;
        let mut at = 0;
        for plane in &frame.planes[..n_planes] {
            staged[at..at + plane.len()].copy_from_slice(plane);
            at += plane.len();
        }
        let dev = ensure(&self.stream, &mut self.frame, total)?;
        self.stream.memcpy_htod(&*staged, &mut dev.slice_mut(..total)).map_err(driver)?;
        self.upload_consts(pre, frame.height)?;
        let (ow, oh) = (pre.width, pre.height);
        ensure(&self.stream, &mut self.image, 3 * ow * oh)?;
        self.launch_preprocess(frame, [lens[0], lens[1], lens[2]], (ow, oh))?;
        let image = self.image.as_ref().expect("ensured above");
        let (ptr, _sync) = image.device_ptr(&self.stream);
        Ok(DeviceImage { ptr, shape: [1, 3, oh, ow], stream: &self.stream })
    }

    /// [`Self::preprocess_to_device`] then a copy to the host: only for an encoder without
    /// a device input (none of ours; kept so any encoder works with the GPU kernels).
    pub fn preprocess(&mut self, pre: &Preprocessor, frame: &FrameRef, out: &mut Tensor) -> Result<(), CudaError> {
        let shape = self.preprocess_to_device(pre, frame)?.shape;
        out.resize(&shape);
        let n = out.data.len();
        let image = self.image.as_ref().expect("written by preprocess_to_device");
        self.stream.memcpy_dtoh(&image.slice(..n), &mut out.data[..]).map_err(driver)?;
        self.stream.synchronize().map_err(driver)
    }

    /// scale/bias of `pre` and the YUV matrix for this frame height, uploaded when changed.
    fn upload_consts(&mut self, pre: &Preprocessor, height: usize) -> Result<(), CudaError> {
        let (scale, bias) = pre.scale_bias();
        let m = yuv_matrix(height);
        let mut want = [0.0f32; 10];
        want[..3].copy_from_slice(&scale);
        want[3..6].copy_from_slice(&bias);
        want[6..].copy_from_slice(&[m.rv, m.gu, m.gv, m.bu]);
        let dev = ensure(&self.stream, &mut self.consts, want.len())?;
        if want != self.consts_host {
            self.stream.memcpy_htod(&want, dev).map_err(driver)?;
            // The copy reads `want` now or after the stream catches up: wait, it is 40 bytes.
            self.stream.synchronize().map_err(driver)?;
            self.consts_host = want;
        }
        Ok(())
    }

    fn launch_preprocess(&mut self, frame: &FrameRef, lens: [usize; 3], (ow, oh): (usize, usize)) -> Result<(), CudaError> {
        let planes = self.frame.as_ref().expect("uploaded");
        let (p0, p1, p2) = (planes.slice(..lens[0]), planes.slice(lens[0]..lens[0] + lens[1]), planes.slice(lens[0] + lens[1]..));
        let consts = self.consts.as_ref().expect("uploaded");
        let (scale_d, bias_d, m) = (consts.slice(0..3), consts.slice(3..6), consts.slice(6..10));
        let (w, h) = (frame.width as i32, frame.height as i32);
        let (s0, s1, s2) = (frame.strides[0] as i32, frame.strides[1] as i32, frame.strides[2] as i32);
        let (ow_i, oh_i) = (ow as i32, oh as i32);
        let image = self.image.as_mut().expect("ensured");
        let (bpp, order) = packed_layout(frame.format);
        let mut b = match frame.format {
            PixelFormat::I420 => self.stream.launch_builder(&self.i420),
            PixelFormat::Nv12 => self.stream.launch_builder(&self.nv12),
            _ => self.stream.launch_builder(&self.packed),
        };
        b.arg(&p0);
        match frame.format {
            PixelFormat::I420 => {
                b.arg(&p1).arg(&p2).arg(&w).arg(&h).arg(&s0).arg(&s1).arg(&s2).arg(&m);
            }
            PixelFormat::Nv12 => {
                b.arg(&p1).arg(&w).arg(&h).arg(&s0).arg(&s1).arg(&m);
            }
            _ => {
                b.arg(&w).arg(&h).arg(&s0).arg(&bpp).arg(&order[0]).arg(&order[1]).arg(&order[2]);
            }
        }
        b.arg(&mut *image).arg(&ow_i).arg(&oh_i).arg(&scale_d).arg(&bias_d);
        // SAFETY: argument order and types match the kernel signatures in preprocess.cu;
        // every buffer was sized above for the launch grid.
        unsafe { b.launch(grid(ow, oh)) }.map_err(driver)?;
        Ok(())
    }

    /// GPU twin of [`MaskUpsampler::run`] for every kept object at once: the logits go up
    /// in one copy, each object's window (from `up`, on the host) is computed on the device,
    /// and only the windows come down, in one copy. `masks[i]` and `boxes[i]` receive
    /// object `i`'s full-size mask and box (`None`: no pixel survives).
    pub fn upsample_masks<'l>(
        &mut self,
        logits: impl ExactSizeIterator<Item = &'l [f32]> + Clone,
        (w4, h4): (usize, usize),
        (out_w, out_h): (usize, usize),
        up: &mut MaskUpsampler,
        masks: &mut [Mask],
        boxes: &mut Vec<Option<BBox>>,
    ) -> Result<(), CudaError> {
        let (n, cells) = (logits.len(), w4 * h4);
        assert_eq!(masks.len(), n, "one mask per object");
        boxes.clear();
        self.plan.clear();
        let mut total = 0;
        for l in logits.clone() {
            let win = up.window(l, (w4, h4), (out_w, out_h));
            self.plan.push(win.map(|w| (w, total)));
            total += win.map_or(0, |w| w.area());
        }
        if total == 0 {
            boxes.extend(masks.iter_mut().map(|m| paste(Window { x: 0, y: 0, w: 0, h: 0 }, &[], (out_w, out_h), m)));
            return Ok(());
        }
        let staged = self.logits_up.get(&self.ctx, n * cells)?;
        for (i, l) in logits.enumerate() {
            staged[i * cells..(i + 1) * cells].copy_from_slice(l);
        }
        let dev = ensure(&self.stream, &mut self.logits, n * cells)?;
        self.stream.memcpy_htod(&*staged, &mut dev.slice_mut(..n * cells)).map_err(driver)?;
        ensure(&self.stream, &mut self.windows, total)?;
        for i in 0..n {
            if let Some((win, at)) = self.plan[i] {
                self.launch_window(i * cells, (w4, h4), (out_w, out_h), win, at)?;
            }
        }
        let down = self.windows_down.get(&self.ctx, total)?;
        let windows = self.windows.as_ref().expect("ensured");
        self.stream.memcpy_dtoh(&windows.slice(..total), &mut *down).map_err(driver)?;
        self.stream.synchronize().map_err(driver)?;
        for (plan, mask) in self.plan.iter().zip(masks.iter_mut()) {
            let (win, at) = plan.unwrap_or((Window { x: 0, y: 0, w: 0, h: 0 }, 0));
            boxes.push(paste(win, &down[at..at + win.area()], (out_w, out_h), mask));
        }
        Ok(())
    }

    fn launch_window(
        &mut self,
        from: usize,
        (w4, h4): (usize, usize),
        (ow, oh): (usize, usize),
        win: Window,
        at: usize,
    ) -> Result<(), CudaError> {
        let src = self.logits.as_ref().expect("uploaded").slice(from..from + w4 * h4);
        let mut dst = self.windows.as_mut().expect("ensured").slice_mut(at..at + win.area());
        let [a, b, c, d] = [w4, h4, ow, oh].map(|v| v as i32);
        let [x, y, w, h] = [win.x, win.y, win.w, win.h].map(|v| v as i32);
        let mut l = self.stream.launch_builder(&self.window);
        l.arg(&src).arg(&a).arg(&b).arg(&c).arg(&d).arg(&x).arg(&y).arg(&w).arg(&h).arg(&mut dst);
        // SAFETY: matches `upsample_threshold_window` in postprocess.cu; `src` holds w4 * h4
        // logits and `dst` the window's w * h bytes, the kernel's launch grid.
        unsafe { l.launch(grid(win.w, win.h)) }.map_err(driver)?;
        Ok(())
    }
}
