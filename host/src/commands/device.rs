//! `facegate device info|selftest|enroll|verify|identify|delete|list --port ...`: one protocol
//! command against a board on a serial port or QEMU on a TCP socket (`facegate emulate`).

use crate::device::frames::{DeviceFrame, GreyImage};
use crate::device::{Client, PortSpec};
use anyhow::{Context, Result};
use facegate_shared::protocol::{Cost, DeviceInfo, FaceBox, ModelInfo};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the device is and how long to wait for it.
#[derive(Debug, Clone, clap::Args)]
pub struct PortArgs {
    /// A serial port (`/dev/ttyACM0`, optionally `@BAUD`) or `tcp:HOST:PORT` (QEMU's UART:
    /// `facegate emulate` prints it).
    #[arg(long, env = "FACEGATE_PORT")]
    pub port: PortSpec,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The admin key file (`facegate keygen`'s `admin.key`; a firmware built with the QEMU test
    /// keys takes `firmware/keys/test-admin.key`): enrol, delete and model updates open an
    /// admin session with it.
    #[arg(long, env = "FACEGATE_ADMIN_KEY")]
    pub admin_key: Option<PathBuf>,
}

impl PortArgs {
    /// Opens the port and checks the protocol version.
    pub fn open(&self) -> Result<(Client, DeviceInfo)> {
        let (mut client, info) =
            Client::open(&self.port).with_context(|| format!("connecting to {}", self.port))?;
        client.set_timeout(Duration::from_secs(self.timeout));
        Ok((client, info))
    }

    /// Opens the port, and an admin session if `--admin-key` is given (a probe then gets the
    /// distance, which an open session does not).
    pub fn open_maybe_admin(&self) -> Result<(Client, DeviceInfo)> {
        match self.admin_key {
            Some(_) => self.open_admin(),
            None => self.open(),
        }
    }

    /// Opens the port and an admin session with `--admin-key`.
    pub fn open_admin(&self) -> Result<(Client, DeviceInfo)> {
        let Some(path) = &self.admin_key else {
            anyhow::bail!(
                "this command changes the device: pass --admin-key FILE (QEMU test firmware: {})",
                crate::device::keys::test_keys_dir()
                    .join("test-admin.key")
                    .display()
            );
        };
        let key = crate::device::keys::read_key(path, crate::device::keys::KeyKind::Admin)?;
        let (mut client, info) = self.open()?;
        client
            .authenticate(&key)
            .with_context(|| format!("opening an admin session with {}", path.display()))?;
        Ok((client, info))
    }
}

/// How image files become frames.
#[derive(Debug, Clone, clap::Args)]
pub struct FrameArgs {
    /// Side of the host's centre crop that the device crops as the face (LFW: 120).
    #[arg(long, default_value_t = 120)]
    pub crop: u16,
    /// The face box `X,Y,W,H` of an image that is already a camera frame (≤ 160×120): the
    /// image is sent whole with this box instead of around the centre crop.
    #[arg(long, value_parser = parse_face)]
    pub face: Option<FaceBox>,
}

fn parse_face(text: &str) -> Result<FaceBox, String> {
    let v: Vec<u16> = text
        .split(',')
        .map(|p| p.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{text:?}: {e}"))?;
    match v.as_slice() {
        &[x, y, w, h] => Ok(FaceBox { x, y, w, h }),
        _ => Err(format!("{text:?}: expected X,Y,W,H")),
    }
}

impl FrameArgs {
    /// The frame of one image file.
    pub fn frame(&self, path: &Path) -> Result<DeviceFrame> {
        let image = GreyImage::load(path)?;
        let frame = match self.face {
            Some(face) => DeviceFrame::with_face(&image, face),
            None => DeviceFrame::centre_crop(&image, self.crop),
        };
        frame.with_context(|| path.display().to_string())
    }
}

/// `facegate device` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DeviceCommand {
    /// Firmware and protocol version, model, memory use, templates.
    Info(PortArgs),
    /// Run the active model's golden vectors on the device.
    Selftest(PortArgs),
    /// Enrol a person from one or more images (the template is their embeddings' mean).
    Enroll {
        /// The person's id (1–16 bytes).
        id: String,
        /// Their images.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        port: PortArgs,
        #[command(flatten)]
        frame: FrameArgs,
    },
    /// Is this image the person `id`? (1:1)
    Verify {
        /// The claimed id.
        id: String,
        /// The probe image.
        image: PathBuf,
        #[command(flatten)]
        port: PortArgs,
        #[command(flatten)]
        frame: FrameArgs,
    },
    /// Who is in this image? (1:N over every template)
    Identify {
        /// The probe image.
        image: PathBuf,
        #[command(flatten)]
        port: PortArgs,
        #[command(flatten)]
        frame: FrameArgs,
    },
    /// Remove a person's template.
    Delete {
        /// The id.
        id: String,
        #[command(flatten)]
        port: PortArgs,
    },
    /// List the enrolled ids.
    List(PortArgs),
}

/// Arguments of `facegate device`.
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    /// The command.
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// The model's id as hex (its first 8 bytes).
pub fn model_id_hex(model: &ModelInfo) -> String {
    model.id[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Prints `Info` for people.
pub fn print_info(info: &DeviceInfo) {
    println!(
        "firmware {} (protocol {}), largest frame {} bytes",
        info.firmware_version, info.protocol_version, info.max_frame
    );
    match &info.model {
        Some(m) => println!(
            "model {} in slot {:?} (update #{}): {} bytes, {} layers, {} MACs, input {}×{}, \
             embedding {}, threshold {}, arena {} bytes",
            model_id_hex(m),
            m.slot,
            m.version,
            m.len,
            m.layers,
            m.macs,
            m.input_side,
            m.input_side,
            m.embedding_dim,
            m.threshold,
            m.arena
        ),
        None => println!("no model installed (facegate flash --model FILE --port ...)"),
    }
    if let Some(m) = &info.model {
        println!(
            "model version {}, {}",
            m.model_version,
            if m.signed {
                "signed (ed25519)"
            } else {
                "unsigned (the factory model)"
            }
        );
    }
    println!("templates {} of {}", info.templates, info.template_capacity);
    let a = &info.attempts;
    println!(
        "admin session {}; attempt limit: Identify {} rejections in a row (wait {} s), most rejections of one id {} (longest wait {} s)",
        if info.admin { "open" } else { "closed" },
        a.identify_failures,
        a.identify_wait,
        a.most_failures,
        a.longest_wait
    );
    print_memory(info);
}

/// Prints the device's memory use.
pub fn print_memory(info: &DeviceInfo) {
    let m = &info.memory;
    let ram_used = m.ram_static + m.stack_peak;
    println!(
        "RAM {} of {} bytes: statics {} (of which arena {} and receive/frame buffer {}), stack peak {}",
        ram_used, m.ram_total, m.ram_static, m.arena, m.rx_buffer, m.stack_peak
    );
    println!(
        "flash: code {} bytes, model slot {} bytes (×2), template store {} bytes",
        m.flash_code, m.flash_slot, m.flash_templates
    );
}

fn print_cost(cost: &Cost) {
    println!(
        "cost: preprocess {} ticks, embedding {} ticks",
        cost.preprocess, cost.embed
    );
}

/// Runs one `facegate device` command.
pub fn run(args: DeviceArgs) -> Result<()> {
    match args.command {
        DeviceCommand::Info(port) => {
            let (_, info) = port.open()?;
            print_info(&info);
        }
        DeviceCommand::Selftest(port) => {
            let (mut client, _) = port.open()?;
            let r = client.self_test()?;
            println!(
                "self-test {}: {} golden vectors, {} ticks{}",
                if r.passed { "passed" } else { "FAILED" },
                r.vectors,
                r.cost,
                r.mismatch.map_or(String::new(), |m| format!(
                    ", vector {} differs at element {}",
                    m.vector, m.element
                ))
            );
            anyhow::ensure!(r.passed, "the device's self-test failed");
        }
        DeviceCommand::Enroll {
            id,
            images,
            port,
            frame,
        } => {
            let frames = images
                .iter()
                .map(|p| frame.frame(p))
                .collect::<Result<Vec<_>>>()?;
            let (mut client, _) = port.open_admin()?;
            let (_, committed) = client.enroll(&id, &frames)?;
            println!(
                "enrolled {id} from {} frames; {} templates stored",
                committed.frames, committed.templates
            );
        }
        DeviceCommand::Verify {
            id,
            image,
            port,
            frame,
        } => {
            let f = frame.frame(&image)?;
            let (mut client, _) = port.open_maybe_admin()?;
            let r = client.verify(&id, &f)?;
            let distance = if r.embedding.is_empty() {
                "withheld without --admin-key".to_string()
            } else {
                r.distance.to_string()
            };
            println!(
                "{}: distance {distance} (threshold {})",
                if r.accepted { "ACCEPT" } else { "REJECT" },
                r.threshold
            );
            print_cost(&r.cost);
        }
        DeviceCommand::Identify { image, port, frame } => {
            let f = frame.frame(&image)?;
            let (mut client, _) = port.open_maybe_admin()?;
            let r = client.identify(&f)?;
            match (&r.best, r.accepted) {
                (Some(c), true) => println!(
                    "identified {} (distance {}, threshold {}; {} templates compared)",
                    c.id, c.distance, r.threshold, r.compared
                ),
                (Some(c), false) => println!(
                    "unknown: nearest {} at distance {} > threshold {} ({} templates compared)",
                    c.id, c.distance, r.threshold, r.compared
                ),
                (None, _) if r.compared == 0 => println!("unknown: no templates enrolled"),
                (None, _) => println!(
                    "unknown ({} templates compared; the nearest is named with --admin-key)",
                    r.compared
                ),
            }
            print_cost(&r.cost);
        }
        DeviceCommand::Delete { id, port } => {
            let (mut client, _) = port.open_admin()?;
            let left = client.delete(&id)?;
            println!("deleted {id}; {left} templates stored");
        }
        DeviceCommand::List(port) => {
            let (mut client, _) = port.open()?;
            for id in client.list()? {
                println!("{id}");
            }
        }
    }
    Ok(())
}
