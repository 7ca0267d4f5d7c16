//! `facegate bench device`: the model's cost on the device. Boots the firmware in QEMU under
//! `-icount shift=6` (every instruction 64 ns of virtual time, so TIMER0's 25 MHz ticks count
//! instructions exactly: 1.6 ticks each), embeds a few frames with `Profile` on two builds of
//! the firmware — the product's Cortex-M4 DSP kernels and the portable kernels
//! (`--features portable-kernels`) — and prints each layer's MACs (from the blob's layer
//! table), instructions and instructions per MAC of both builds, CMSIS-NN's figure for the
//! closest shape class and the DSP build's ratio to it, the device's memory, and one
//! machine-readable line:
//!
//! `embedding_instructions=<n> portable_embedding_instructions=<n> macs=<n> instructions_per_mac=<x> flash_code=<bytes> flash_model=<bytes> ram_peak=<bytes>`

use super::demo::ticks_to_instructions;
use super::device::print_memory;
use super::flash::send_model;
use crate::device::firmware::{build_firmware, Qemu, QemuConfig};
use crate::device::frames::DeviceFrame;
use crate::device::gallery::generated_people;
use crate::device::layers::layer_figures;
use crate::device::reference::HostEngine;
use anyhow::{ensure, Context, Result};
use facegate_shared::blob::Model;
use facegate_shared::preprocess::PreprocessConfig;
use facegate_shared::protocol::{DeviceInfo, ProfileReport};
use std::path::Path;

/// `-icount shift` of the measurement.
pub const ICOUNT_SHIFT: u8 = 6;
/// Frames embedded (the counts are identical run to run; several frames show it).
pub const FRAMES: usize = 3;

/// The device's RAM peak: statics (which hold the arena and the receive/frame buffer in this
/// firmware) plus the painted stack's high-water mark; buffers the board did not count among
/// its statics are added.
pub fn ram_peak(info: &DeviceInfo) -> u32 {
    let m = &info.memory;
    let buffers = m.arena + m.rx_buffer;
    let statics = if m.ram_static >= buffers {
        m.ram_static
    } else {
        m.ram_static + buffers
    };
    statics + m.stack_peak
}

/// One firmware build's measurement: a profile per frame and the device's `Info` after them.
struct Measurement {
    reports: Vec<ProfileReport>,
    info: DeviceInfo,
}

impl Measurement {
    /// Instructions of layer `i`, the median over the frames.
    fn layer(&self, i: usize) -> f64 {
        let mut ticks: Vec<u32> = self.reports.iter().map(|r| r.layers[i]).collect();
        ticks.sort_unstable();
        ticks_to_instructions(ticks[ticks.len() / 2], ICOUNT_SHIFT)
    }

    /// Instructions of a whole embedding, the median over the frames.
    fn embedding(&self) -> u64 {
        let mut embed: Vec<u32> = self.reports.iter().map(|r| r.cost.embed).collect();
        embed.sort_unstable();
        ticks_to_instructions(embed[embed.len() / 2], ICOUNT_SHIFT).round() as u64
    }

    /// Whether every frame cost the same.
    fn identical(&self) -> bool {
        let first = self.reports[0].cost.embed;
        self.reports.iter().all(|r| r.cost.embed == first)
    }
}

/// Boots the firmware built with `features`, makes it serve `blob`, and profiles [`FRAMES`]
/// generated frames, checking every embedding against the host engine's.
fn measure(features: &[&str], blob: &[u8]) -> Result<Measurement> {
    let model = Model::parse(blob)?;
    eprintln!("building the firmware ({}) ...", label(features));
    let elf = build_firmware(features)?;
    let dir = tempfile::tempdir()?;
    let mut cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    cfg.icount_shift = Some(ICOUNT_SHIFT);
    let (_qemu, mut client, info) = Qemu::start_and_connect(&cfg)?;
    client.set_timeout(std::time::Duration::from_secs(600));
    let serving = info
        .model
        .as_ref()
        .is_some_and(|m| m.id == model.header().model_id);
    if !serving {
        send_model(&mut client, blob)?;
    }
    let mut host = HostEngine::new(model);
    let side = host.input_side();
    let people = generated_people(FRAMES, 1, 3);
    let mut reports: Vec<ProfileReport> = Vec::new();
    for p in &people {
        let frame = DeviceFrame::centre_crop(&p.images[0], 120)?;
        let report = client.profile(&frame)?;
        let cfg = PreprocessConfig {
            crop: 120,
            out_side: side,
        };
        let expected = host.embed(&p.images[0].host_input(&cfg)?)?;
        ensure!(
            report.embedding.as_slice() == expected.as_slice(),
            "the device's embedding ({}) differs from the host engine's",
            label(features)
        );
        reports.push(report);
    }
    let info = client.info()?;
    Ok(Measurement { reports, info })
}

/// A build's name in the table.
fn label(features: &[&str]) -> &'static str {
    if features.contains(&"portable-kernels") {
        "portable kernels"
    } else {
        "DSP kernels"
    }
}

/// CMSIS-NN's instructions per MAC for the closest shape class, as measured for issue 15 on
/// the same QEMU machine under `-icount` (CMSIS-NN 99f736a, arm-none-eabi-gcc 12.2 -O2, DSP path):
/// the first 3×3 convolution 10.4; depthwise 3×3 on 16 channels 8.4, on 64 or more 8.0; 1×1 on
/// 16 input channels 4.0, on 64 or more 2.1; fully connected 2.0.
pub fn cmsis_nn_reference(op: &str, c_in: u64) -> Option<f64> {
    match op {
        "conv" => Some(10.4),
        "depthwise" => Some(if c_in <= 16 { 8.4 } else { 8.0 }),
        "pointwise" => Some(if c_in <= 16 { 4.0 } else { 2.1 }),
        "dense" => Some(2.0),
        _ => None,
    }
}

/// Runs `facegate bench device` on the `.fgm` at `model_path`: the DSP build (the product) and
/// the portable build side by side.
pub fn run(model_path: &Path) -> Result<()> {
    let blob =
        std::fs::read(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let model = Model::parse(&blob).with_context(|| model_path.display().to_string())?;
    let dsp = measure(&[], &blob)?;
    let portable = measure(&["portable-kernels"], &blob)?;
    let layers = layer_figures(&model);
    for m in [&dsp, &portable] {
        ensure!(
            m.reports[0].layers.len() == layers.len(),
            "the device profiled {} layers, the blob has {}",
            m.reports[0].layers.len(),
            layers.len()
        );
    }
    println!(
        "{} on QEMU mps2-an386 -icount shift={ICOUNT_SHIFT}, {} frames per build ({}), instructions = TIMER0 ticks × 40 / 64",
        model_path.display(),
        FRAMES,
        if dsp.identical() && portable.identical() {
            "identical counts"
        } else {
            "counts differ per frame: median shown"
        }
    );
    println!(
        "{:>3} {:<10} {:>3} {:>14} {:>9} | {:>11} {:>6} | {:>11} {:>6} | {:>6} {:>7}",
        "#", "op", "k/s", "output", "MACs", "portable", "i/MAC", "DSP", "i/MAC", "CMSIS", "DSP/CM"
    );
    for (i, l) in layers.iter().enumerate() {
        let (p, d) = (portable.layer(i), dsp.layer(i));
        let per_mac = |x: f64| {
            if l.macs > 0 {
                format!("{:.2}", x / l.macs as f64)
            } else {
                "-".into()
            }
        };
        let ks = if l.kernel > 0 {
            format!("{}/{}", l.kernel, l.stride)
        } else {
            "-".into()
        };
        let outputs = u64::from(l.output.0) * u64::from(l.output.1) * u64::from(l.output.2);
        let c_in = match l.op {
            "depthwise" => l.output.2 as u64,
            _ => l.macs / outputs.max(1),
        };
        let (cmsis, ratio) = match cmsis_nn_reference(l.op, c_in) {
            Some(c) if l.macs > 0 => (format!("{c:.1}"), format!("{:.2}", d / l.macs as f64 / c)),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "{:>3} {:<10} {:>3} {:>14} {:>9} | {:>11.0} {:>6} | {:>11.0} {:>6} | {:>6} {:>7}",
            i,
            l.op,
            ks,
            format!("{}×{}×{}", l.output.0, l.output.1, l.output.2),
            l.macs,
            p,
            per_mac(p),
            d,
            per_mac(d),
            cmsis,
            ratio
        );
    }
    let macs = u64::from(model.header().macs);
    for (name, m) in [("portable kernels", &portable), ("DSP kernels", &dsp)] {
        let layer_sum: f64 = (0..layers.len()).map(|i| m.layer(i)).sum();
        let preprocess = ticks_to_instructions(m.reports[0].cost.preprocess, ICOUNT_SHIFT);
        println!(
            "{name}: whole embedding (Model::run) {} instructions = {:.2} per MAC (layers add up to {layer_sum:.0}); preprocessing the frame {preprocess:.0}",
            m.embedding(),
            m.embedding() as f64 / macs.max(1) as f64
        );
    }
    println!("memory of the DSP build (the product):");
    print_memory(&dsp.info);
    let flash_model = blob.len();
    println!(
        "embedding_instructions={} portable_embedding_instructions={} macs={macs} instructions_per_mac={:.2} flash_code={} flash_model={flash_model} ram_peak={}",
        dsp.embedding(),
        portable.embedding(),
        dsp.embedding() as f64 / macs.max(1) as f64,
        dsp.info.memory.flash_code,
        ram_peak(&dsp.info)
    );
    Ok(())
}
