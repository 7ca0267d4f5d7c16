//! `facegate bench device`: the model's cost on the device. Boots the firmware in QEMU under
//! `-icount shift=6` (every instruction 64 ns of virtual time, so TIMER0's 25 MHz ticks count
//! instructions exactly: 1.6 ticks each), embeds a few frames with `Profile`, and prints each
//! layer's instructions, MACs (from the blob's layer table), instructions per MAC and activation
//! bytes, the device's memory, and one machine-readable line:
//!
//! `embedding_instructions=<n> macs=<n> instructions_per_mac=<x> flash_code=<bytes> flash_model=<bytes> ram_peak=<bytes>`

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

/// Runs `facegate bench device` on the `.fgm` at `model_path`.
pub fn run(model_path: &Path) -> Result<()> {
    let blob =
        std::fs::read(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let model = Model::parse(&blob).with_context(|| model_path.display().to_string())?;
    eprintln!("building the firmware ...");
    let elf = build_firmware(&[])?;
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
        send_model(&mut client, &blob)?;
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
            "the device's embedding differs from the host engine's"
        );
        reports.push(report);
    }
    let info = client.info()?;
    let model = Model::parse(&blob)?;
    let layers = layer_figures(&model);
    let first = &reports[0];
    ensure!(
        first.layers.len() == layers.len(),
        "the device profiled {} layers, the blob has {}",
        first.layers.len(),
        layers.len()
    );
    let same = reports.iter().all(|r| r.cost.embed == first.cost.embed);
    println!(
        "{} on QEMU mps2-an386 -icount shift={ICOUNT_SHIFT}, {} frames ({}), instructions = TIMER0 ticks × 40 / 64",
        model_path.display(),
        reports.len(),
        if same { "identical counts" } else { "counts differ per frame: median shown" }
    );
    println!(
        "{:>3} {:<10} {:>3} {:>14} {:>12} {:>12} {:>8} {:>8}",
        "#", "op", "k/s", "output", "MACs", "instructions", "instr/MAC", "act. B"
    );
    for (i, l) in layers.iter().enumerate() {
        let mut ticks: Vec<u32> = reports.iter().map(|r| r.layers[i]).collect();
        ticks.sort_unstable();
        let instr = ticks_to_instructions(ticks[ticks.len() / 2], ICOUNT_SHIFT);
        let per_mac = if l.macs > 0 {
            format!("{:.2}", instr / l.macs as f64)
        } else {
            "-".into()
        };
        let ks = if l.kernel > 0 {
            format!("{}/{}", l.kernel, l.stride)
        } else {
            "-".into()
        };
        println!(
            "{:>3} {:<10} {:>3} {:>14} {:>12} {:>12.0} {:>8} {:>8}",
            i,
            l.op,
            ks,
            format!("{}×{}×{}", l.output.0, l.output.1, l.output.2),
            l.macs,
            instr,
            per_mac,
            l.activation_bytes
        );
    }
    let mut embed: Vec<u32> = reports.iter().map(|r| r.cost.embed).collect();
    embed.sort_unstable();
    let embedding = ticks_to_instructions(embed[embed.len() / 2], ICOUNT_SHIFT).round() as u64;
    let layer_sum: f64 = (0..layers.len())
        .map(|i| ticks_to_instructions(first.layers[i], ICOUNT_SHIFT))
        .sum();
    let preprocess = ticks_to_instructions(first.cost.preprocess, ICOUNT_SHIFT);
    let macs = u64::from(model.header().macs);
    println!(
        "whole embedding (Model::run): {embedding} instructions (layers add up to {layer_sum:.0}); \
         preprocessing the frame {preprocess:.0}"
    );
    print_memory(&info);
    let flash_model = blob.len();
    println!(
        "embedding_instructions={embedding} macs={macs} instructions_per_mac={:.2} flash_code={} flash_model={flash_model} ram_peak={}",
        embedding as f64 / macs.max(1) as f64,
        info.memory.flash_code,
        ram_peak(&info)
    );
    Ok(())
}
