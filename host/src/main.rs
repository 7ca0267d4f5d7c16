//! `facegate`: the host command line. Parsing and dispatch only; the work is in the library.
use anyhow::Result;
use clap::{Parser, Subcommand};
use facegate::commands::{
    bench, calibrate, demo, device, embed, emulate, evaluate, export, flash, keygen, quantize,
    sign, train,
};

#[derive(Parser)]
#[command(
    name = "facegate",
    version,
    about = "Face verification for microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The device end to end: boot the firmware in QEMU, send the release model, enrol people,
    /// verify and identify probes, each decision checked against the host engine.
    Demo(demo::DemoArgs),
    /// Talk to a device (a board on a serial port, or QEMU): info, selftest, enroll, verify,
    /// identify, delete, list.
    Device(device::DeviceArgs),
    /// Run the device in QEMU with a persistent flash file; prints where to connect.
    Emulate(emulate::EmulateArgs),
    /// Write a `.fgm` model to a device over the protocol (A/B slots, atomic switch).
    Flash(flash::FlashArgs),
    /// Make a model-signing key pair and an admin key (never overwrites a key file).
    Keygen(keygen::KeygenArgs),
    /// Sign a `.fgm` model (ed25519) with a model version, for a device that trusts the key.
    Sign(sign::SignArgs),
    /// Train a face embedder (triplet / contrastive / softmax-ratio loss) into a run folder.
    Train(train::TrainArgs),
    /// Evaluate a model on LFW-format pairs (10-fold accuracy, ROC, EER, TAR@FAR, plots).
    Eval(evaluate::EvalArgs),
    /// Choose and store the verification threshold for a target false-accept rate.
    Calibrate(calibrate::CalibrateArgs),
    /// Export a trained run to a float ONNX model (BatchNorm folded) with its threshold.
    Export(export::ExportArgs),
    /// Print or save the embeddings of image files with an exported .onnx model (tract).
    Embed(embed::EmbedArgs),
    /// Decide whether two face images show the same person, with an exported .onnx model.
    Compare(embed::CompareArgs),
    /// Quantise a trained run to an int8 `.fgm` blob for the device (TFLite int8 scheme).
    Quantize(quantize::QuantizeArgs),
    /// Time a training step per backend, mining per batch size, or ONNX inference (tract vs
    /// ONNX Runtime): the figures of BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Print the known-answer self-test values the firmware prints at boot.
    Selftest,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(args)?,
        Command::Device(args) => device::run(args)?,
        Command::Emulate(args) => emulate::run(args)?,
        Command::Flash(args) => flash::run(args)?,
        Command::Keygen(args) => keygen::run(args)?,
        Command::Sign(args) => sign::run(args)?,
        Command::Train(args) => train::run(args)?,
        Command::Eval(args) => {
            evaluate::run(args)?;
        }
        Command::Calibrate(args) => {
            calibrate::run(args)?;
        }
        Command::Export(args) => {
            export::run(args)?;
        }
        Command::Embed(args) => {
            embed::run_embed(args)?;
        }
        Command::Compare(args) => {
            embed::run_compare(args)?;
        }
        Command::Quantize(args) => {
            quantize::run(args)?;
        }
        Command::Bench(args) => bench::run(args)?,
        Command::Selftest => {
            for a in facegate_shared::selftest::known_answers() {
                println!(
                    "selftest {} {} 0x{:08x}",
                    a.name,
                    a.value,
                    a.value.to_bits()
                );
            }
        }
    }
    Ok(())
}
