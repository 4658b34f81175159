//! The built plugin as users meet it: `gst-launch-1.0` and `gst-inspect-1.0` with
//! GST_PLUGIN_PATH at the build output (found from this test binary's path).
mod segment_support;

use gst::prelude::*;
use segment_support::*;
use std::process::{Command, Output};

fn gst_tool(tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        // A private registry: never reuse a cache that predates this build.
        .env("GST_REGISTRY", plugin_dir().join("segstream-test-registry.bin"))
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable (gstreamer1.0-tools): {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn launch_line_runs_to_eos_with_the_meta_on_every_buffer() {
    let model = bundle();
    let model_prop = format!("model={}", model.display());
    let o = gst_tool(
        "gst-launch-1.0",
        &[
            "-v",
            "videotestsrc",
            "num-buffers=10",
            "!",
            "video/x-raw,width=160,height=120",
            "!",
            "videoconvert",
            "!",
            "segment",
            &model_prop,
            "!",
            "segoverlay",
            "!",
            "fakesink",
            "silent=false",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "exit {:?}\n{out}", o.status);
    assert!(out.contains("Got EOS from element"), "{out}");
    // fakesink's last-message lists each buffer's metas.
    let chains: Vec<&str> = out.lines().filter(|l| l.contains("chain")).collect();
    assert_eq!(chains.len(), 10, "{out}");
    assert!(chains.iter().all(|l| l.contains("SegstreamObjectsMeta")), "{}", chains.join("\n"));
}

#[test]
fn launch_with_a_missing_model_fails_naming_it() {
    let o = gst_tool("gst-launch-1.0", &["videotestsrc", "num-buffers=3", "!", "segment", "model=/no/such/bundle", "!", "fakesink"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("/no/such/bundle"), "{out}");
}

#[test]
fn inspect_lists_the_elements() {
    let o = gst_tool("gst-inspect-1.0", &["segstream"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for element in ["segment:", "segoverlay:"] {
        assert!(out.contains(element), "{element} missing:\n{out}");
    }
    let o = gst_tool("gst-inspect-1.0", &["segment"]);
    let out = text(&o);
    for prop in ["model", "provider", "detect-interval", "score-threshold", "max-targets", "vocabulary", "mask-width", "mask-height"] {
        assert!(out.contains(&format!("  {prop} ")), "property {prop} missing:\n{out}");
    }
}

/// Every property of every element of the plugin has a nick and a blurb of its own.
#[test]
fn every_property_is_described() {
    init();
    let registry = gst::Registry::get();
    let features = registry.features_by_plugin("segstream");
    assert!(features.len() >= 2, "plugin features: {}", features.len());
    for f in features {
        let Ok(factory) = f.downcast::<gst::ElementFactory>() else { continue };
        let element = factory.create().build().unwrap();
        for p in element.list_properties() {
            if p.owner_type() != element.type_() {
                continue; // inherited (name, parent, qos): GStreamer's own
            }
            let blurb = p.blurb().unwrap_or_default();
            assert!(p.nick() != p.name() && !p.nick().is_empty(), "{}::{} has no nick", factory.name(), p.name());
            assert!(blurb.len() > 10 && blurb != p.nick(), "{}::{} blurb {:?}", factory.name(), p.name(), blurb);
        }
    }
}
