//! `facegate demo`: the device end to end in QEMU. Builds and boots the firmware on a fresh
//! flash, sends the release model over the protocol, enrols people, verifies genuine and
//! impostor probes, identifies a few (enrolled and not), and prints each decision with its
//! distance and the instructions its embedding took, then the accuracy and the device's memory.
//! Every device embedding and decision is checked against the host engine's. The firmware is
//! built with the QEMU test keys unless `FACEGATE_MODEL_PUBKEY` / `FACEGATE_ADMIN_KEY` say
//! otherwise: the demo signs the model (`--signing-key`, default the test key; an unsigned blob
//! becomes model version 1) and opens an admin session (`--admin-key`, default the test key).

use super::device::{model_id_hex, print_memory};
use super::flash::send_model;
use crate::device::checked::{Checked, Probe};
use crate::device::firmware::{build_firmware, release_model, Qemu, QemuConfig};
use crate::device::gallery::{device_id, generated_people, lfw_people, Person};
use crate::device::keys;
use crate::device::reference::HostEngine;
use anyhow::{bail, Context, Result};
use facegate_shared::blob::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Arguments of `facegate demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Real faces: an LFW-layout folder (`DIR/<person>/<image>`); without it, generated people.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The model sent to the device.
    #[arg(long, default_value_os_t = release_model())]
    pub model: PathBuf,
    /// People to enrol.
    #[arg(long, default_value_t = 12)]
    pub people: usize,
    /// Images per person to enrol.
    #[arg(long, default_value_t = 3)]
    pub enroll: usize,
    /// Genuine probes per person (and as many impostor probes).
    #[arg(long, default_value_t = 2)]
    pub probes: usize,
    /// Enrolled people to identify, plus two who are not enrolled.
    #[arg(long, default_value_t = 4)]
    pub identify: usize,
    /// QEMU `-icount shift=N`: instructions are counted exactly (TIMER0 ticks × 40 / 2^N).
    #[arg(long, default_value_t = 6)]
    pub icount_shift: u8,
    /// Run QEMU free (faster); costs are then timer ticks, not instructions.
    #[arg(long)]
    pub fast: bool,
    /// Seed of the generated people.
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    /// Side of the centre crop the device takes as the face.
    #[arg(long, default_value_t = 120)]
    pub crop: u16,
    /// The admin key the firmware is built with (`FACEGATE_ADMIN_KEY` also reaches the firmware
    /// build); default: the QEMU test key `firmware/keys/test-admin.key`.
    #[arg(long, env = "FACEGATE_ADMIN_KEY")]
    pub admin_key: Option<PathBuf>,
    /// The secret key the model is signed with (it must match the firmware's
    /// `FACEGATE_MODEL_PUBKEY`); default: the QEMU test key.
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
}

/// Ticks of QEMU's 25 MHz TIMER0 → instructions under `-icount shift=N` (2^N ns each).
pub fn ticks_to_instructions(ticks: u32, shift: u8) -> f64 {
    f64::from(ticks) * 40.0 / f64::from(1u32 << shift)
}

struct Row {
    kind: &'static str,
    probe: Probe,
    enrolled: bool,
}

fn load_people(args: &DemoArgs) -> Result<(Vec<Person>, Vec<Person>, String)> {
    let per_person = args.enroll + args.probes;
    let total = args.people + 2;
    match &args.data {
        Some(dir) => {
            let mut all = lfw_people(dir, total, per_person)?;
            let strangers = all.split_off(args.people);
            let trained = trained_people(&args.model);
            let seen = all
                .iter()
                .chain(&strangers)
                .filter(|p| trained.as_ref().is_some_and(|t| t.contains(&p.name)))
                .count();
            let note = match trained {
                Some(t) => format!(
                    "real faces from {}: {seen} of these {} people are among the {} the model \
                     trained on ({}){}",
                    dir.display(),
                    total,
                    t.len(),
                    args.model.with_extension("people.txt").display(),
                    if seen == total {
                        " — the release model saw every LFW person: this shows the device \
                         matches the host, not how it generalises (BENCHMARKS.md has the \
                         held-out figures)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "real faces from {}; no people list beside the model, so which of them it \
                     trained on is unknown",
                    dir.display()
                ),
            };
            Ok((all, strangers, note))
        }
        None => {
            let mut all = generated_people(total, per_person, args.seed);
            let strangers = all.split_off(args.people);
            Ok((
                all,
                strangers,
                format!(
                    "{total} generated people (seed {}; none seen in training: the model trained \
                     on LFW faces, these are synthetic blob-and-grating patterns)",
                    args.seed
                ),
            ))
        }
    }
}

fn trained_people(model: &Path) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(model.with_extension("people.txt")).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    )
}

fn bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} {bar:40} {pos}/{len}  eta {eta}") {
        bar.set_style(style);
    }
    bar
}

/// Runs `facegate demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    anyhow::ensure!(
        args.people >= 2,
        "--people must be at least 2 (impostors need someone)"
    );
    anyhow::ensure!(
        args.enroll >= 1 && args.probes >= 1,
        "--enroll and --probes must be ≥ 1"
    );
    let blob =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let model = Model::parse(&blob).with_context(|| args.model.display().to_string())?;
    let (people, strangers, note) = load_people(&args)?;
    let ids: BTreeSet<String> = people.iter().map(|p| device_id(&p.name)).collect();
    if ids.len() != people.len() {
        bail!("two people share a 16-byte id prefix; choose other --people");
    }

    eprintln!("building the firmware ...");
    let elf = build_firmware(&[])?;
    let dir = tempfile::tempdir().context("creating a folder for the flash file")?;
    let mut cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    cfg.icount_shift = (!args.fast).then_some(args.icount_shift);
    let (_qemu, mut client, before) = Qemu::start_and_connect(&cfg)?;
    client.set_timeout(std::time::Duration::from_secs(600));
    let admin_key = match &args.admin_key {
        Some(path) => keys::read_key(path, keys::KeyKind::Admin)?,
        None => keys::test_admin_key()?,
    };
    client
        .authenticate(&admin_key)
        .context("opening an admin session (--admin-key must be the firmware's)")?;
    let seed = match &args.signing_key {
        Some(path) => keys::read_key(path, keys::KeyKind::SigningSecret)?,
        None => keys::test_signing_key()?,
    };
    let mut signed = blob.clone();
    let version = model.header().model_version.max(1);
    facegate_shared::device::trust::sign_blob(&mut signed, &seed, version)
        .with_context(|| format!("signing {}", args.model.display()))?;
    println!(
        "device: firmware {} in QEMU mps2-an386{}; factory model {}",
        before.firmware_version,
        cfg.icount_shift
            .map_or(String::new(), |s| format!(" (-icount shift={s})")),
        before.model.as_ref().map_or("none".into(), model_id_hex)
    );
    let committed = send_model(&mut client, &signed)?;
    println!(
        "sent {} over the UART: {} bytes into slot {:?}, committed (model {})",
        args.model.display(),
        committed.len,
        committed.slot,
        model_id_hex(&committed)
    );
    println!("people: {note}");

    let steps = people.len() * (args.enroll + 2 * args.probes)
        + args.identify.min(people.len())
        + strangers.len();
    let progress = bar(steps);
    let mut checked = Checked::new(&mut client, HostEngine::new(model), args.crop);
    progress.set_message("enrolling");
    for p in &people {
        checked.enroll(&device_id(&p.name), &p.images[..args.enroll])?;
        progress.inc(args.enroll as u64);
    }
    let mut rows = Vec::new();
    progress.set_message("verifying");
    for (i, p) in people.iter().enumerate() {
        let impostor = &people[(i + 1) % people.len()];
        for image in &p.images[args.enroll..] {
            let truth = device_id(&p.name);
            let genuine = checked.verify(&truth, &truth, image)?;
            rows.push(Row {
                kind: "genuine",
                probe: genuine,
                enrolled: true,
            });
            let claim = device_id(&impostor.name);
            let impostor_probe = checked.verify(&claim, &truth, image)?;
            rows.push(Row {
                kind: "impostor",
                probe: impostor_probe,
                enrolled: true,
            });
            progress.inc(2);
        }
    }
    progress.set_message("identifying");
    for p in people.iter().take(args.identify) {
        let probe = checked.identify(&device_id(&p.name), &p.images[args.enroll])?;
        rows.push(Row {
            kind: "identify",
            probe,
            enrolled: true,
        });
        progress.inc(1);
    }
    for p in &strangers {
        let probe = checked.identify(&device_id(&p.name), &p.images[0])?;
        rows.push(Row {
            kind: "stranger",
            probe,
            enrolled: false,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    let agreement = checked.agreement.clone();
    let info = client.info()?;

    print_table(&rows, cfg.icount_shift);
    print_summary(&rows, &committed, cfg.icount_shift);
    println!(
        "device vs host engine: {}/{} embeddings bit-identical, {}/{} decisions (and distances) equal",
        agreement.embeddings_equal, agreement.embeddings, agreement.decisions_equal, agreement.decisions
    );
    println!(
        "templates stored: {} of {}",
        info.templates, info.template_capacity
    );
    print_memory(&info);
    if !agreement.all_equal() {
        for m in agreement.mismatches.iter().take(10) {
            eprintln!("  {m}");
        }
        bail!("the device disagreed with the host engine");
    }
    Ok(())
}

fn cost_text(ticks: u32, shift: Option<u8>) -> String {
    match shift {
        Some(s) => format!("{:.2} M", ticks_to_instructions(ticks, s) / 1e6),
        None => format!("{ticks} ticks"),
    }
}

fn print_table(rows: &[Row], shift: Option<u8>) {
    println!();
    println!(
        "{:<9} {:<17} {:<17} {:<8} {:>8} {:>9} {:>5} {:>13}",
        "probe",
        "person",
        "claimed/nearest",
        "device",
        "distance",
        "threshold",
        "host",
        if shift.is_some() {
            "instructions"
        } else {
            "embed cost"
        }
    );
    for r in rows {
        let p = &r.probe;
        let decision = match (&p.claimed, p.accepted) {
            (Some(_), true) => "accept",
            (Some(_), false) => "reject",
            (None, true) => "known",
            (None, false) => "unknown",
        };
        let other = p
            .claimed
            .clone()
            .or_else(|| p.nearest.clone())
            .unwrap_or_default();
        println!(
            "{:<9} {:<17} {:<17} {:<8} {:>8} {:>9} {:>5} {:>13}{}",
            r.kind,
            p.truth,
            other,
            decision,
            p.distance,
            p.threshold,
            if p.host_agrees && p.embedding_equal {
                "same"
            } else {
                "DIFF"
            },
            cost_text(p.cost.embed, shift),
            if p.correct(r.enrolled) {
                ""
            } else {
                "  (wrong)"
            }
        );
    }
    println!();
}

fn print_summary(rows: &[Row], model: &facegate_shared::protocol::ModelInfo, shift: Option<u8>) {
    let count = |kind: &str| rows.iter().filter(|r| r.kind == kind).count();
    let right = |kind: &str| {
        rows.iter()
            .filter(|r| r.kind == kind && r.probe.correct(r.enrolled))
            .count()
    };
    let (g, gr) = (count("genuine"), right("genuine"));
    let (i, ir) = (count("impostor"), right("impostor"));
    let (n, nr) = (
        count("identify") + count("stranger"),
        right("identify") + right("stranger"),
    );
    println!(
        "verification: {gr}/{g} genuine accepted, {ir}/{i} impostors rejected: accuracy {:.1}%",
        100.0 * (gr + ir) as f64 / (g + i).max(1) as f64
    );
    println!("identification: {nr}/{n} right (enrolled people named, strangers unknown)");
    let mut embed: Vec<u32> = rows.iter().map(|r| r.probe.cost.embed).collect();
    embed.sort_unstable();
    if let (Some(&lo), Some(&hi), Some(s)) = (embed.first(), embed.last(), shift) {
        let median = embed[embed.len() / 2];
        let per = ticks_to_instructions(median, s);
        println!(
            "instructions per embedding: median {:.0} (min {:.0}, max {:.0}) for {} MACs = {:.2} per MAC",
            per,
            ticks_to_instructions(lo, s),
            ticks_to_instructions(hi, s),
            model.macs,
            per / f64::from(model.macs.max(1))
        );
    }
}
