//! The caps the NVIDIA deployment pipelines (deploy/jetson/README.md) hand to `segment`:
//! `nvv4l2decoder ! nvvidconv ! video/x-raw,format=NV12` on Jetson and `nvh264dec` (NV12 in
//! system memory) on a desktop. No NVIDIA element exists here, so a system-memory NV12
//! source stands in for them; what is checked is `segment`'s side of the negotiation.
mod segment_support;

use gst::prelude::*;
use segment_support::*;

/// Runs `launch` to EOS and returns the caps `segment`'s sink pad negotiated and the number
/// of buffers that reached the sink.
fn negotiate(launch: &str) -> (gst::Caps, usize) {
    init();
    let pipeline = gst::parse::launch(launch).unwrap().downcast::<gst::Pipeline>().unwrap();
    let seg = pipeline.by_name("seg").unwrap();
    let sink = pipeline.by_name("out").unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    sink.set_property("signal-handoffs", true);
    sink.connect("handoff", false, move |_| {
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        None
    });
    let caps = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = caps.clone();
    seg.static_pad("sink").unwrap().add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data {
            if let gst::EventView::Caps(c) = e.view() {
                *seen.lock().unwrap() = Some(c.caps_owned());
            }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error]).expect("EOS or error");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{launch}: {} ({:?})", e.error(), e.debug());
    }
    let caps = caps.lock().unwrap().take().expect("segment received caps");
    (caps, count.load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn segment_takes_system_memory_nv12_as_nvvidconv_and_nvh264dec_give_it() {
    let model = bundle();
    // 1920x1080 as a decoder delivers it; 1282x722: rows padded (stride 1284, as a
    // decoder's pitch pads them) and a chroma plane of odd height (361 rows).
    for (w, h) in [(1920, 1080), (1282, 722)] {
        let launch = format!(
            "videotestsrc num-buffers=3 pattern=ball ! video/x-raw,format=NV12,width={w},height={h} \
             ! segment name=seg model={} ! fakesink name=out",
            model.display()
        );
        let (caps, buffers) = negotiate(&launch);
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("format").unwrap(), "NV12", "{caps}");
        assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (w, h));
        assert!(caps.features(0).is_none_or(|f| f.size() == 0 || f.contains("memory:SystemMemory")), "system memory: {caps}");
        assert_eq!(buffers, 3, "every frame went through segment");
    }
}

/// NVMM (Jetson) and CUDA (nvcodec) memory are not mappable as plain bytes: segment must
/// not claim them, so the pipeline fails at negotiation instead of reading device memory.
/// This is why the Jetson pipeline has nvvidconv (NVMM -> system memory) before segment,
/// and why videoconvert (system memory only) cannot take nvv4l2decoder's output.
#[test]
fn segment_refuses_nvmm_and_cuda_memory_caps() {
    init();
    let factory = gst::ElementFactory::find("segment").unwrap();
    let template = factory.static_pad_templates().into_iter().find(|t| t.name_template() == "sink").unwrap().caps();
    let nv12: gst::Caps = "video/x-raw,format=NV12".parse().unwrap();
    assert!(template.can_intersect(&nv12), "{template}");
    for feature in ["memory:NVMM", "memory:CUDAMemory", "memory:GLMemory"] {
        let caps: gst::Caps = format!("video/x-raw({feature}),format=NV12").parse().unwrap();
        assert!(!template.can_intersect(&caps), "segment must not accept {caps}");
    }
}
