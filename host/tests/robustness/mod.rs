//! Fixtures of the command-line robustness sweep: a small dataset with broken files in it, the
//! release model's files, and a TCP proxy in front of a simulated device that cuts the link.

use facegate::device::sim::{SimChip, SimDevice};
use facegate::device::PortSpec;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// People in the fixture dataset, images each.
const PEOPLE: usize = 4;
const IMAGES: usize = 4;
const SIDE: u32 = 250;

/// Runs the `facegate` binary with `args`, no dataset or port from the environment.
pub fn facegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(args)
        .env_remove("FACEGATE_DATA")
        .env_remove("FACEGATE_PORT")
        .env("RUST_BACKTRACE", "0")
        .env(
            "FACEGATE_CACHE",
            std::env::temp_dir().join("facegate-robustness-cache"),
        )
        .output()
        .expect("run the facegate binary")
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// A temporary folder with an LFW-layout dataset `data/`:
/// `person_000..person_003`, four 250×250 PNGs each, except that `person_002_0003.jpg` is
/// garbage and `person_003_0003.png` is empty; `nobody/` is an empty identity folder.
pub struct Fixture {
    /// The temporary folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The dataset root.
    pub data: PathBuf,
}

impl Fixture {
    /// Writes the dataset.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for p in 0..PEOPLE {
            let folder = data.join(format!("person_{p:03}"));
            std::fs::create_dir_all(&folder).unwrap();
            for i in 1..=IMAGES {
                let pixels = (0..SIDE * SIDE)
                    .map(|k| ((k % SIDE) * (p as u32 + 1) + (k / SIDE) * i as u32) as u8)
                    .collect();
                image::GrayImage::from_raw(SIDE, SIDE, pixels)
                    .unwrap()
                    .save(folder.join(format!("person_{p:03}_{i:04}.png")))
                    .unwrap();
            }
        }
        std::fs::remove_file(data.join("person_002/person_002_0003.png")).unwrap();
        std::fs::write(
            data.join("person_002/person_002_0003.jpg"),
            b"\xff\xd8\xff\xe0 not really a JPEG",
        )
        .unwrap();
        std::fs::write(data.join("person_003/person_003_0003.png"), b"").unwrap();
        std::fs::create_dir_all(data.join("nobody")).unwrap();
        Self { dir, data }
    }

    /// The path of image `i` (1-based) of person `p`, whatever its extension.
    pub fn image(&self, p: usize, i: usize) -> PathBuf {
        let folder = self.data.join(format!("person_{p:03}"));
        let stem = format!("person_{p:03}_{i:04}");
        ["png", "jpg"]
            .iter()
            .map(|ext| folder.join(format!("{stem}.{ext}")))
            .find(|path| path.exists())
            .unwrap_or_else(|| panic!("no image {stem}"))
    }

    /// A View 1 pairs file of images that decode, 10 same and 10 different (the least a
    /// 10-fold evaluation takes).
    pub fn good_pairs(&self) -> PathBuf {
        let same = [
            (0, 1, 2),
            (0, 1, 3),
            (0, 2, 4),
            (1, 1, 2),
            (1, 2, 3),
            (1, 3, 4),
            (2, 1, 2),
        ];
        let same = same.iter().chain(&[(2, 2, 4), (3, 1, 2), (3, 2, 4)]);
        let mut text = String::from("10\n");
        for (p, i, j) in same {
            text += &format!("person_{p:03}\t{i}\t{j}\n");
        }
        for k in 0..10 {
            let (p, q) = (k % PEOPLE, (k + 1 + k / PEOPLE) % PEOPLE);
            let (i, j) = (k % 2 + 1, (k + 1) % 2 + 1);
            text += &format!("person_{p:03}\t{i}\tperson_{q:03}\t{j}\n");
        }
        self.write_pairs("good-pairs.txt", &text)
    }

    /// The good pairs with the second same-person pair replaced by `same`.
    pub fn pairs_with_same(&self, same: &str) -> PathBuf {
        self.write_pairs(
            "pairs-with.txt",
            &format!(
                "2\nperson_000\t1\t2\n{same}\n\
                 person_000\t1\tperson_001\t2\nperson_002\t1\tperson_003\t2\n"
            ),
        )
    }

    fn write_pairs(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The committed float ONNX release model.
    pub fn release_onnx(&self) -> PathBuf {
        workspace_root().join("models/facegate-v1.onnx")
    }

    /// The committed int8 release blob.
    pub fn release_fgm(&self) -> PathBuf {
        workspace_root().join("models/facegate-v1.fgm")
    }

    /// `facegate eval` of the release ONNX model on the fixture dataset.
    pub fn eval(&self, pairs: &Path) -> Output {
        facegate(&[
            "eval",
            "--model",
            &self.release_onnx().display().to_string(),
            "--data",
            &self.data.display().to_string(),
            "--pairs",
            &pairs.display().to_string(),
            "--no-cache",
        ])
    }

    /// `facegate sign` of `input` into `out`.
    pub fn sign(&self, key: &Path, input: &Path, out: &Path) -> Output {
        facegate(&[
            "sign",
            "--key",
            &key.display().to_string(),
            "--in",
            &input.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--model-version",
            "2",
        ])
    }

    /// The first `len` bytes of `source`, as `name` in the folder.
    pub fn truncated_copy(&self, source: &Path, name: &str, len: usize) -> PathBuf {
        let bytes = std::fs::read(source).unwrap();
        assert!(
            len < bytes.len(),
            "{} is only {} bytes",
            source.display(),
            bytes.len()
        );
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes[..len]).unwrap();
        path
    }

    /// `source` with bit 0 of byte `at` flipped, as `name` in the folder.
    pub fn bit_flipped_copy(&self, source: &Path, name: &str, at: usize) -> PathBuf {
        let mut bytes = std::fs::read(source).unwrap();
        bytes[at] ^= 1;
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        path
    }
}

/// Asserts that `dir` holds no file at all (no output, no temporary file).
#[track_caller]
pub fn assert_no_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.is_empty(),
        "left behind in {}: {names:?}",
        dir.display()
    );
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP proxy in front of a simulated device (release model, test keys) that forwards every
/// request whole, and forwards the answer to request number `cut` (0-based, counted over the
/// connection) only up to `keep` bytes, then drops both sides: a device that loses power or its
/// cable mid-answer. `cut = usize::MAX` never cuts.
pub struct CuttingProxy {
    port: u16,
}

impl CuttingProxy {
    /// Starts the device and the proxy (their threads live as long as the test process).
    pub fn start(cut: usize, keep: usize) -> Self {
        let release = std::fs::read(workspace_root().join("models/facegate-v1.fgm")).unwrap();
        let device = SimDevice::spawn(SimChip::new(Some(&release))).unwrap();
        let PortSpec::Tcp {
            port: device_port, ..
        } = device.spec()
        else {
            panic!("the simulated device serves TCP");
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(device) = TcpStream::connect(("127.0.0.1", device_port)) else {
                    continue;
                };
                relay(client, device, cut, keep);
            }
        });
        Self { port }
    }

    /// The `--port` value.
    pub fn spec(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }
}

fn relay(client: TcpStream, device: TcpStream, cut: usize, keep: usize) {
    let (Ok(mut client_in), Ok(mut device_out)) = (client.try_clone(), device.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = client_in.read(&mut buf) {
            if device_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let (mut device_in, mut client_out) = (device, client);
    let mut answers = 0usize;
    let mut sent_of_answer = 0usize;
    let mut buf = [0u8; 1];
    // Byte by byte: each answer ends with its 0x00 delimiter.
    'relay: while let Ok(1) = device_in.read(&mut buf) {
        if answers == cut && sent_of_answer >= keep {
            break 'relay;
        }
        if client_out.write_all(&buf).is_err() {
            break;
        }
        sent_of_answer += 1;
        if buf[0] == 0 {
            answers += 1;
            sent_of_answer = 0;
        }
    }
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = device_in.shutdown(Shutdown::Both);
    let _ = upstream.join();
}
