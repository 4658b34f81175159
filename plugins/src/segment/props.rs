//! Property specifications of `segment` (kept apart: long, declarative).
use gst::glib;
use gst::prelude::*;
use segstream::runtime::{Threads, MAX_INTRA_THREADS};
use segstream::tracker::{TrackerConfig, DETECT_INTERVAL_RANGE};

pub fn specs() -> Vec<glib::ParamSpec> {
    let t = TrackerConfig::default();
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Model bundle")
            .blurb(
                "Directory of the engine bundle (bundle.toml + ONNX files); unset: the \
                    SEGSTREAM_MODEL environment variable, then the bundled default engines/tiny",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("provider")
            .nick("Execution provider")
            .blurb(
                "Inference backend: cpu, cuda, tensorrt (ONNX Runtime providers) or tensorrt-native; an unavailable provider is an error",
            )
            .default_value(Some("cpu"))
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("detect-interval")
            .nick("Detection interval")
            .blurb(
                "Run learnable-query detection every N frames (always while nothing is tracked); \
                    0: never, only targets added by segstream-command events are followed",
            )
            .minimum(*DETECT_INTERVAL_RANGE.start())
            .maximum(*DETECT_INTERVAL_RANGE.end())
            .default_value(t.detect_interval)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("score-threshold")
            .nick("Score threshold")
            .blurb("A detection starts a new track only above this score")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(t.score_threshold)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-targets")
            .nick("Maximum targets")
            .blurb(
                "Hard cap on the number of tracked objects, at most the bundle's max_prompts (32 for engines/tiny): \
                    more fails at start, and is capped with a warning when set while playing",
            )
            .minimum(1)
            .maximum(1024)
            .default_value(t.max_targets as u32)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("vocabulary")
            .nick("Vocabulary")
            .blurb(
                "Comma-separated class names; names outside the bundle's vocabulary are \
                    embedded at start with the bundle's text encoder; empty: the bundle's vocabulary",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("mask-width")
            .nick("Mask width")
            .blurb("Width of the masks in the meta; 0 (or mask-height 0): the frame size")
            .maximum(16_384)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("mask-height")
            .nick("Mask height")
            .blurb("Height of the masks in the meta; 0 (or mask-width 0): the frame size")
            .maximum(16_384)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("threads")
            .nick("Inference threads")
            .blurb(
                "ONNX Runtime intra-op threads per engine (the image encoder's: encoder-threads); 0: one per \
                    core. The default 1 lets N streams use N cores; one stream uses a second core by encoding \
                    ahead (encode-ahead)",
            )
            .maximum(MAX_INTRA_THREADS as u32)
            .default_value(Threads::default().intra as u32)
            .mutable_ready()
            .build(),
        glib::ParamSpecInt::builder("encoder-threads")
            .nick("Encoder threads")
            .blurb(
                "ONNX Runtime intra-op threads of the image encoder alone; -1: as threads, 0: one per core. \
                    For a live camera on a machine with a core to spare (no encoding ahead there), 2 lowers \
                    the latency (segstream run sets it for one live camera)",
            )
            .minimum(-1)
            .maximum(MAX_INTRA_THREADS as i32)
            .default_value(-1)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("spin")
            .nick("Spinning threads")
            .blurb("Let idle inference threads spin instead of sleeping (lower latency, a busy core between frames)")
            .default_value(Threads::default().spin)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("encode-ahead", super::EncodeAhead::Auto)
            .nick("Encode ahead")
            .blurb(
                "Run the image encoder of the next frame on a thread of its own while this frame is tracked \
                    (same results, about twice the frame rate on two cores, one frame held back): auto = with an \
                    upstream that is not live and two cores per stream of the loaded model; on; off",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("encoding-ahead")
            .nick("Encoding ahead")
            .blurb("Whether the last frame was encoded ahead (see encode-ahead)")
            .read_only()
            .build(),
        glib::ParamSpecInt64::builder("max-lateness")
            .nick("Maximum lateness")
            .blurb(
                "With a live upstream and qos=true, a frame reaching segment more than this many ns after its deadline \
                    (running time + upstream latency) is dropped before the model runs; -1: never (frames late for a \
                    synchronising sink, from its QoS events, are still dropped unless qos=false)",
            )
            .minimum(-1)
            .default_value(super::imp::qos::DEFAULT_MAX_LATENESS)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt64::builder("frames-dropped")
            .nick("Frames dropped")
            .blurb("Frames dropped unprocessed because they were late (QoS) since the element started")
            .read_only()
            .build(),
        glib::ParamSpecUInt64::builder("processing-latency")
            .nick("Processing latency")
            .blurb("Latency segment adds in latency queries, ns: 95th percentile of the last 32 frames' processing time, at most 2 s")
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("targets")
            .nick("Tracked targets")
            .blurb("Targets the tracker remembers after the last frame (tentative, confirmed and lost); for monitoring")
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("engine-users")
            .nick("Engine users")
            .blurb(
                "How many segment elements of this process use this element's loaded model, itself included \
                    (provider cpu with the same model and threads share one; 0 while stopped)",
            )
            .read_only()
            .build(),
    ]
}
