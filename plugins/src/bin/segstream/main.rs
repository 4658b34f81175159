//! The `segstream` command line: one subcommand per module file in this folder.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod synth;

#[derive(Parser)]
#[command(name = "segstream", version, about = "Video instance segmentation and tracking over GStreamer and MQTT")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic video dataset (PNG frames + YouTube-VIS JSON with COCO RLE masks).
    Synth(synth::SynthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => synth::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segstream: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
