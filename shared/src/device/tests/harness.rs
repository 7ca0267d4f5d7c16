//! A simulated chip (four partitions over `Vec`s), a board, a byte pipe, and request helpers.

use crate::blob::Model;
use crate::device::{auth, trust};
use crate::device::{BoardMemory, Device, DeviceKeys, MemFlash, Partitions, Platform, PowerCut};
use crate::preprocess::{inputs_i8, preprocess_grey_box, Rect};
use crate::protocol::*;
use std::collections::VecDeque;

pub static RELEASE: &[u8] = include_bytes!("../../../../models/facegate-v1.fgm");

pub const SLOT: usize = 160 * 1024;
pub const STORE: usize = 64 * 1024;
pub const BOOT: usize = 8 * 1024;
pub const ARENA: usize = 32_832;
/// The cost counter's rate on the test board: one tick per millisecond.
pub const TICK_HZ: u32 = 1000;

/// A key file's bytes: one line, `label` and 64 hex digits.
fn key_file(text: &str, label: &str) -> [u8; 32] {
    let (found, hex) = text.trim().split_once(' ').unwrap();
    assert_eq!(found, label);
    assert_eq!(hex.len(), 64, "a key is 64 hex digits");
    core::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
}

/// The committed QEMU test keys (firmware/keys/), as the firmware is built with by default.
pub fn test_keys() -> DeviceKeys {
    DeviceKeys {
        model_key: key_file(
            include_str!("../../../../firmware/keys/test-model-signing.pub"),
            "facegate-model-signing-public",
        ),
        admin_key: test_admin_key(),
    }
}

/// The test admin key.
pub fn test_admin_key() -> [u8; 32] {
    key_file(
        include_str!("../../../../firmware/keys/test-admin.key"),
        "facegate-admin-secret",
    )
}

/// The test signing seed.
pub fn test_signing_seed() -> [u8; 32] {
    key_file(
        include_str!("../../../../firmware/keys/test-model-signing.key"),
        "facegate-model-signing-secret",
    )
}

/// Another key pair's seed: "signed by another key".
pub const OTHER_SEED: [u8; 32] = [0x42; 32];

/// `blob` signed with `seed` as model version `version`.
pub fn signed_with(blob: &[u8], seed: &[u8; 32], version: u32) -> Vec<u8> {
    let mut out = blob.to_vec();
    trust::sign_blob(&mut out, seed, version).unwrap();
    out
}

/// `blob` signed with the test key as model version `version`.
pub fn signed(blob: &[u8], version: u32) -> Vec<u8> {
    signed_with(blob, &test_signing_seed(), version)
}

/// The release blob signed with the test key, model version 1.
pub fn release_signed() -> Vec<u8> {
    signed(RELEASE, 1)
}

/// The flash contents of one chip.
#[derive(Clone)]
pub struct Chip {
    pub slot_a: Vec<u8>,
    pub slot_b: Vec<u8>,
    pub store: Vec<u8>,
    pub boot: Vec<u8>,
}

pub type TestDevice<'a> = Device<MemFlash<'a>, TestBoard>;

impl Chip {
    /// Every byte erased: no model.
    pub fn blank() -> Self {
        Self {
            slot_a: vec![0xFF; SLOT],
            slot_b: vec![0xFF; SLOT],
            store: vec![0xFF; STORE],
            boot: vec![0xFF; BOOT],
        }
    }

    /// The release model in slot A, as the firmware links it.
    pub fn factory() -> Self {
        let mut chip = Self::blank();
        chip.slot_a[..RELEASE.len()].copy_from_slice(RELEASE);
        chip
    }

    /// A device on this chip (boots: reads the boot record), no session open.
    pub fn open_device<'a>(&'a mut self, power: Option<&'a PowerCut>) -> TestDevice<'a> {
        Device::new(
            Partitions {
                slot_a: MemFlash::new(&mut self.slot_a, power),
                slot_b: MemFlash::new(&mut self.slot_b, power),
                store: MemFlash::new(&mut self.store, power),
                boot: MemFlash::new(&mut self.boot, power),
            },
            TestBoard::default(),
            test_keys(),
        )
    }

    /// A device on this chip with an admin session open through the real challenge-response
    /// (its flash operations do not count against `power`'s budget).
    pub fn device<'a>(&'a mut self, power: Option<&'a PowerCut>) -> TestDevice<'a> {
        let mut d = self.open_device(power);
        let mut b = Buffers::new();
        let mut open = || login(&mut b, &mut d, &test_admin_key());
        let r = match power {
            Some(p) => p.paused(&mut open),
            None => open(),
        };
        assert_eq!(r, Response::Authenticated);
        d
    }
}

/// A board whose counter advances by one per reading (and by [`TestBoard::wait`]).
#[derive(Debug, Default)]
pub struct TestBoard {
    ticks: u32,
}

impl TestBoard {
    /// Moves the clock on by `seconds`.
    pub fn wait(&mut self, seconds: u32) {
        self.ticks = self.ticks.wrapping_add(seconds * TICK_HZ);
    }
}

impl Platform for TestBoard {
    fn now(&mut self) -> u32 {
        self.ticks = self.ticks.wrapping_add(1);
        self.ticks
    }
    fn tick_hz(&self) -> u32 {
        TICK_HZ
    }
    fn memory(&mut self) -> BoardMemory {
        BoardMemory {
            ram_total: 65_536,
            ram_static: 1,
            stack_peak: 2,
            flash_code: 3,
        }
    }
    fn firmware_version(&self) -> &str {
        "test-firmware-version-longer-than-16"
    }
}

/// The buffers the firmware would give the device.
pub struct Buffers {
    pub rx: Vec<u8>,
    pub arena: Vec<u8>,
}

impl Buffers {
    pub fn new() -> Self {
        Self {
            rx: vec![0; MAX_FRAME],
            arena: vec![0; ARENA],
        }
    }

    /// Sends one request through the device's frame handler.
    pub fn call(&mut self, device: &mut TestDevice<'_>, request: &Request<'_>) -> Response {
        let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
        let mut out = vec![0u8; MAX_FRAME + 1];
        let n = encode_frame(request, &mut scratch, &mut out).unwrap() - 1;
        self.rx[..n].copy_from_slice(&out[..n]);
        let response = device.handle(&mut self.rx, n, &mut self.arena);
        // The response is what the wire would carry: round-trip it.
        let len = encode_payload(&response, &mut scratch).unwrap();
        assert!(len <= MAX_FRAME, "response of {len} bytes");
        response
    }
}

/// A 160×120 grey frame: a smooth face-like pattern per person plus a little per-shot noise.
pub fn picture(person: u32, shot: u32) -> Vec<u8> {
    let mut state = person.wrapping_mul(0x9E37_79B9) ^ shot.wrapping_mul(0x85EB_CA6B) ^ 1;
    let (fx, fy) = (1 + person % 5, 1 + (person / 5) % 5);
    (0..120u32)
        .flat_map(|y| (0..160u32).map(move |x| (x, y)))
        .map(|(x, y)| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let base = 128.0
                + 60.0
                    * ((x as f32 * fx as f32 / 23.0).sin() * (y as f32 * fy as f32 / 19.0).cos())
                + (person % 7) as f32 * 5.0;
            (base + (state % 9) as f32 - 4.0).clamp(0.0, 255.0) as u8
        })
        .collect()
}

pub const FACE: FaceBox = FaceBox {
    x: 20,
    y: 0,
    w: 120,
    h: 120,
};

pub fn frame(pixels: &[u8]) -> Frame<'_> {
    Frame {
        width: 160,
        height: 120,
        face: FACE,
        pixels,
    }
}

pub fn pid(s: &str) -> PersonId {
    PersonId::try_from(s).unwrap()
}

/// What the host computes for a frame: the reference the device must equal bit for bit.
pub fn host_embedding(blob: &[u8], pixels: &[u8]) -> Vec<i8> {
    let model = Model::parse(blob).unwrap();
    let side = model.header().input_width;
    let mut grey = vec![0u8; model.input_len()];
    let rect = Rect {
        x: FACE.x,
        y: FACE.y,
        w: FACE.w,
        h: FACE.h,
    };
    preprocess_grey_box(pixels, 160, 120, rect, side, &mut grey).unwrap();
    let mut input = vec![0i8; grey.len()];
    inputs_i8(&grey, &mut input).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut embedding = vec![0i8; model.embedding_dim()];
    model.run(&input, &mut arena, &mut embedding).unwrap();
    embedding
}

/// Enrols `id` from `shots` pictures of `person` and commits.
pub fn enrol(
    b: &mut Buffers,
    d: &mut TestDevice<'_>,
    id: &str,
    person: u32,
    shots: u32,
) -> Response {
    for shot in 0..shots {
        let pixels = picture(person, shot);
        let r = b.call(
            d,
            &Request::Enroll {
                id: pid(id),
                frame: frame(&pixels),
            },
        );
        assert!(
            matches!(r, Response::Enrolled { frames, .. } if u32::from(frames) == shot + 1),
            "{r:?}"
        );
    }
    b.call(d, &Request::EnrollCommit { id: pid(id) })
}

/// Sends a whole model in chunks of `chunk` bytes; returns the commit's answer.
pub fn send_model(b: &mut Buffers, d: &mut TestDevice<'_>, blob: &[u8], chunk: usize) -> Response {
    let crc = crate::blob::crc32::crc32(blob);
    let begun = b.call(
        d,
        &Request::ModelBegin {
            len: blob.len() as u32,
            crc,
        },
    );
    assert!(matches!(begun, Response::ModelBegun { .. }), "{begun:?}");
    for (i, bytes) in blob.chunks(chunk).enumerate() {
        let offset = (i * chunk) as u32;
        let r = b.call(d, &Request::ModelChunk { offset, bytes });
        assert_eq!(
            r,
            Response::ModelChunk {
                next: offset + bytes.len() as u32
            }
        );
    }
    b.call(d, &Request::ModelCommit)
}

/// The release blob with another model id (and its CRC fixed), unsigned.
pub fn other_model_unsigned() -> Vec<u8> {
    let mut blob = RELEASE.to_vec();
    blob[12] ^= 0x5A;
    let n = blob.len();
    let crc = crate::blob::crc32::crc32(&blob[..n - 4]);
    blob[n - 4..].copy_from_slice(&crc.to_le_bytes());
    Model::parse(&blob).unwrap();
    blob
}

/// A different valid model, signed with the test key as version 1.
pub fn other_model() -> Vec<u8> {
    signed(&other_model_unsigned(), 1)
}

/// `Challenge`, then `Authenticate` with `key`'s answer: the `Authenticate` response.
pub fn login(b: &mut Buffers, d: &mut TestDevice<'_>, key: &[u8; 32]) -> Response {
    let Response::Challenge { nonce } = b.call(d, &Request::Challenge) else {
        panic!("Challenge refused")
    };
    let mac = auth::answer(key, &nonce);
    b.call(d, &Request::Authenticate { mac })
}

/// The refusal `code`.
pub fn refused(code: ErrorCode) -> Response {
    Response::Error(code)
}

pub fn info(b: &mut Buffers, d: &mut TestDevice<'_>) -> DeviceInfo {
    match b.call(d, &Request::Info) {
        Response::Info(info) => info,
        other => panic!("{other:?}"),
    }
}

/// An in-memory byte pipe: reads from `input` (0 at its end), writes to `output`.
pub struct Pipe {
    pub input: VecDeque<u8>,
    pub output: Vec<u8>,
}

impl embedded_io::ErrorType for Pipe {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.input.len());
        for slot in &mut buf[..n] {
            *slot = self.input.pop_front().unwrap();
        }
        Ok(n)
    }
}

impl embedded_io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Splits a byte stream into decoded responses.
pub fn responses(stream: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    for frame in stream.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let mut bytes = frame.to_vec();
        out.push(decode_frame::<Response>(&mut bytes).unwrap());
    }
    assert_eq!(stream.last(), Some(&0), "stream ends with a delimiter");
    out
}

/// Every enrolled id, paging through `List`.
pub fn list_all(b: &mut Buffers, d: &mut TestDevice<'_>) -> Vec<String> {
    let (mut ids, mut start) = (Vec::new(), Some(0u16));
    while let Some(at) = start {
        let Response::List(page) = b.call(d, &Request::List { start: at }) else {
            panic!("List failed")
        };
        assert!(page.ids.len() <= LIST_PAGE);
        ids.extend(page.ids.iter().map(|s| s.to_string()));
        start = page.next(at);
    }
    ids
}
