//! The `segstream` command line: one subcommand per module file in this folder
//! (`pipeline.rs` holds what `run` and `demo` share).
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod cams;
mod config;
mod demo;
mod eval;
mod exit;
mod metrics;
mod pipeline;
mod run;
mod source;
mod synth;
mod trt_profile;

#[derive(Parser)]
#[command(
    name = "segstream",
    version,
    about = "Video instance segmentation and tracking over GStreamer and MQTT",
    after_help = "Logging: --log-level or RUST_LOG (e.g. RUST_LOG=segstream=debug); GStreamer's own log: GST_DEBUG."
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter; RUST_LOG overrides
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Segment and track a video file, URI or config: decode -> segment -> segoverlay -> output
    Run(run::RunArgs),
    /// The bundled model on a built-in synthetic video: annotated frames + a summary per frame
    Demo(demo::DemoArgs),
    /// Write a synthetic video dataset (PNG frames + YouTube-VIS JSON with COCO RLE masks).
    Synth(synth::SynthArgs),
    /// Run tracker variants over an annotated dataset; write VIS/MOTS/VOS results and a score table
    Eval(eval::EvalArgs),
    /// Per-stage latency (preprocess, encoder, decoder, tracker, postprocess), fps and memory on a world video
    Bench(bench::BenchArgs),
    /// Print the TensorRT (trtexec) optimisation-profile flags of a bundle's model
    TrtProfile(trt_profile::TrtProfileArgs),
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::TrtProfile(args) => trt_profile::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segstream: error: {e:#}");
            match e.downcast_ref::<exit::Exit>() {
                Some(x) => ExitCode::from(x.status),
                None => ExitCode::FAILURE,
            }
        }
    }
}
