//! The seed inputs of the fuzz targets, made by the crate's own encoders: valid frames and
//! messages, a tiny valid model blob and prefixes of the released one, store images after a
//! few writes. `tests::write_seed_corpora` writes them to `shared/fuzz/seeds/`.

use super::nor::{small_page_flash, SmallPageFlash};
use crate::blob::crc32::crc32;
use crate::blob::{
    Header, LayerRecord, Model, Operator, TensorRecord, CRC_LEN, DISTANCE_SQUARED_L2, HEADER_LEN,
    LAYER_RECORD_LEN, NO_TENSOR, SIGNATURE_LEN, TENSOR_RECORD_LEN, VERSION, WEIGHTS_ALIGN,
};
use crate::device::store::{self, Counter};
use crate::int8::add::AddMultipliers;
use crate::int8::{ChannelParam, QuantizedMultiplier, Shape};
use crate::protocol::*;
use std::string::String;
use std::vec::Vec;

/// A named seed input.
pub(crate) struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(name: &str, bytes: Vec<u8>) -> Seed {
    Seed {
        name: name.into(),
        bytes,
    }
}

const PIXELS: [u8; 16] = [
    0, 1, 2, 3, 16, 32, 64, 128, 255, 254, 200, 100, 50, 25, 12, 6,
];

fn id(s: &str) -> PersonId {
    PersonId::try_from(s).unwrap()
}

fn small_frame() -> Frame<'static> {
    Frame {
        width: 4,
        height: 4,
        face: FaceBox {
            x: 1,
            y: 0,
            w: 3,
            h: 4,
        },
        pixels: &PIXELS,
    }
}

/// One request of every variant.
pub(crate) fn requests() -> Vec<(&'static str, Request<'static>)> {
    vec![
        ("info", Request::Info),
        ("selftest", Request::SelfTest),
        (
            "model-begin",
            Request::ModelBegin {
                len: 158_440,
                crc: 0xDEAD_BEEF,
            },
        ),
        (
            "model-chunk",
            Request::ModelChunk {
                offset: 4096,
                bytes: &PIXELS,
            },
        ),
        ("model-commit", Request::ModelCommit),
        (
            "enroll",
            Request::Enroll {
                id: id("alice"),
                frame: small_frame(),
            },
        ),
        ("enroll-commit", Request::EnrollCommit { id: id("alice") }),
        (
            "delete",
            Request::Delete {
                id: id("sixteen-byte-id!"),
            },
        ),
        ("list", Request::List { start: 16 }),
        (
            "verify",
            Request::Verify {
                id: id("bob"),
                frame: small_frame(),
            },
        ),
        (
            "identify",
            Request::Identify {
                frame: small_frame(),
            },
        ),
        (
            "profile",
            Request::Profile {
                frame: small_frame(),
            },
        ),
        ("challenge", Request::Challenge),
        ("authenticate", Request::Authenticate { mac: [0xA5; 32] }),
        ("end-session", Request::EndSession),
    ]
}

/// A few responses, the larger variants among them.
pub(crate) fn responses() -> Vec<(&'static str, Response)> {
    let embedding: Embedding = (0..128).map(|i| (i as i8).wrapping_mul(3)).collect();
    let model = ModelInfo {
        id: [9; 16],
        slot: Slot::B,
        version: 3,
        len: 158_440,
        arena: 32_832,
        macs: 6_000_000,
        layers: 40,
        input_side: 64,
        embedding_dim: 128,
        threshold: 12_000,
        model_version: 2,
        signed: true,
        check_cost: 123_456,
    };
    vec![
        (
            "info",
            Response::Info(DeviceInfo {
                protocol_version: PROTOCOL_VERSION,
                firmware_version: "0.1.0".try_into().unwrap(),
                model: Some(model),
                memory: MemoryUse::default(),
                templates: 3,
                template_capacity: 100,
                max_frame: MAX_FRAME as u32,
                admin: true,
                attempts: AttemptInfo::default(),
            }),
        ),
        (
            "error",
            Response::Error(ErrorCode::ModelDowngrade {
                installed: 2,
                offered: 1,
            }),
        ),
        (
            "list",
            Response::List(IdPage {
                total: 3,
                ids: [id("a"), id("bob")].into_iter().collect(),
            }),
        ),
        (
            "verify",
            Response::Verify(VerifyReport {
                accepted: true,
                distance: 4_000,
                threshold: 12_000,
                cost: Cost {
                    preprocess: 10,
                    embed: 20,
                },
                embedding: embedding.clone(),
            }),
        ),
        (
            "identify",
            Response::Identify(IdentifyReport {
                best: Some(Candidate {
                    id: id("carol"),
                    distance: 9,
                }),
                accepted: false,
                threshold: 1,
                compared: 2,
                cost: Cost::default(),
                embedding: Embedding::new(),
            }),
        ),
        ("committed", Response::ModelCommitted(model)),
        ("challenge", Response::Challenge { nonce: [7; 32] }),
    ]
}

fn payload<T: serde::Serialize>(message: &T) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let n = postcard::to_slice(message, &mut buf).unwrap().len();
    buf.truncate(n);
    buf
}

fn wire<T: serde::Serialize>(message: &T) -> Vec<u8> {
    let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode_frame(message, &mut scratch, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Whole frames (delimiter included) of every request and some responses, and a stream of
/// several with an empty frame and a corrupt one among them.
pub(crate) fn frame_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut stream = vec![0u8];
    for (name, request) in requests() {
        let bytes = wire(&request);
        stream.extend_from_slice(&bytes);
        seeds.push(seed(&format!("request-{name}"), bytes));
    }
    for (name, response) in responses() {
        seeds.push(seed(&format!("response-{name}"), wire(&response)));
    }
    let mut corrupt = wire(&Request::List { start: 1 });
    corrupt[1] ^= 0x40;
    stream.extend_from_slice(&corrupt);
    stream.push(0);
    seeds.push(seed("stream", stream));
    seeds
}

/// The postcard payloads of the same messages.
pub(crate) fn request_seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = requests()
        .iter()
        .map(|(name, r)| seed(&format!("request-{name}"), payload(r)))
        .collect();
    seeds.extend(
        responses()
            .iter()
            .map(|(name, r)| seed(&format!("response-{name}"), payload(r))),
    );
    seeds
}

/// The released model (its prefixes seed the blob target).
pub(crate) const RELEASE: &[u8] = include_bytes!("../../../models/facegate-v1.fgm");

/// One layer of [`tiny_blob`]: its record and the bytes it points at in the weights section.
struct LayerPlan {
    record: LayerRecord,
    weights: Vec<u8>,
    params: Vec<u8>,
}

/// A tiny valid blob with one layer of each operator (4×4 grey input, 4-value embedding) and
/// one golden vector, unsigned.
pub(crate) fn tiny_blob() -> Vec<u8> {
    let t = |h, w, c, zero_point, arena_offset| TensorRecord {
        shape: Shape::new(h, w, c),
        zero_point,
        scale: 1.0 / 64.0,
        arena_offset,
    };
    let tensors = [
        t(4, 4, 1, -1, 0),
        t(4, 4, 2, 3, 16),
        t(2, 2, 2, 0, 48),
        t(2, 2, 4, -2, 56),
        t(1, 1, 4, -2, 72),
        t(1, 1, 4, 1, 76),
        t(1, 1, 4, 0, 80),
    ];
    let half = QuantizedMultiplier {
        multiplier: 1 << 30,
        shift: -3,
    };
    let channels = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|c| {
                ChannelParam {
                    bias: 7 * c as i32 - 5,
                    requantize: half,
                }
                .to_bytes()
            })
            .collect()
    };
    let weights =
        |n: usize| -> Vec<u8> { (0..n).map(|i| (i as u8).wrapping_mul(37) ^ 0x5A).collect() };
    let add = AddMultipliers {
        input1: half,
        input2: half,
        output: QuantizedMultiplier {
            multiplier: 1 << 30,
            shift: 1,
        },
    }
    .to_bytes()
    .to_vec();
    let layer = |op: Operator, input: u16, output: u16| LayerRecord {
        op: op as u8,
        kernel: 0,
        stride: 0,
        padding: 0,
        input,
        input2: NO_TENSOR,
        output,
        scratch: NO_TENSOR,
        act_min: -128,
        act_max: 127,
        weights_offset: 0,
        weights_len: 0,
        params_offset: 0,
        params_len: 0,
    };
    let window = |record: LayerRecord, kernel: u8, stride: u8| LayerRecord {
        kernel,
        stride,
        padding: 1,
        ..record
    };
    // Each layer's record (offsets filled in below), its weights and its constants.
    let plan: [LayerPlan; 7] = [
        LayerPlan {
            record: window(layer(Operator::Conv2d, 0, 1), 3, 1),
            weights: weights(18),
            params: channels(2),
        },
        LayerPlan {
            record: window(layer(Operator::DepthwiseConv2d, 1, 2), 3, 2),
            weights: weights(18),
            params: channels(2),
        },
        LayerPlan {
            record: layer(Operator::PointwiseConv, 2, 3),
            weights: weights(8),
            params: channels(4),
        },
        LayerPlan {
            record: layer(Operator::GlobalAveragePool, 3, 4),
            weights: vec![],
            params: vec![],
        },
        LayerPlan {
            record: layer(Operator::Dense, 4, 5),
            weights: weights(16),
            params: channels(4),
        },
        LayerPlan {
            record: LayerRecord {
                input2: 5,
                ..layer(Operator::Add, 4, 5)
            },
            weights: vec![],
            params: add,
        },
        LayerPlan {
            record: layer(Operator::L2Normalize, 5, 6),
            weights: vec![],
            params: vec![],
        },
    ];
    let mut section = Vec::new();
    let mut place = |bytes: &[u8]| -> (u32, u32) {
        while section.len() % 4 != 0 {
            section.push(0);
        }
        let at = section.len() as u32;
        section.extend_from_slice(bytes);
        (at, bytes.len() as u32)
    };
    let layers: Vec<LayerRecord> = plan
        .iter()
        .map(|p| {
            let (weights_offset, weights_len) = place(&p.weights);
            let (params_offset, params_len) = place(&p.params);
            LayerRecord {
                weights_offset,
                weights_len,
                params_offset,
                params_len,
                ..p.record
            }
        })
        .collect();
    let tensors_offset = HEADER_LEN;
    let layers_offset = tensors_offset + tensors.len() * TENSOR_RECORD_LEN;
    let weights_offset =
        (layers_offset + layers.len() * LAYER_RECORD_LEN).next_multiple_of(WEIGHTS_ALIGN);
    let golden_offset = weights_offset + section.len();
    let signature_offset = golden_offset + 16 + 4;
    let total = signature_offset + SIGNATURE_LEN + CRC_LEN;
    let header = Header {
        version: VERSION,
        total_len: total as u32,
        model_id: *b"fuzz-seed-tiny!!",
        input_height: 4,
        input_width: 4,
        input_channels: 1,
        preprocess_crop: 4,
        input_scale: 1.0 / 64.0,
        input_zero_point: -1,
        embedding_dim: 4,
        distance_kind: DISTANCE_SQUARED_L2,
        threshold: 8_000,
        float_threshold: 1.0,
        threshold_far: 0.001,
        arena_size: 96,
        macs: 400,
        tensor_count: tensors.len() as u16,
        layer_count: layers.len() as u16,
        input_tensor: 0,
        output_tensor: 6,
        tensors_offset: tensors_offset as u32,
        layers_offset: layers_offset as u32,
        weights_offset: weights_offset as u32,
        weights_len: section.len() as u32,
        golden_offset: golden_offset as u32,
        golden_count: 1,
        signature_offset: signature_offset as u32,
        model_version: 0,
        signer: [0; 8],
    };
    let mut blob = vec![0u8; total];
    blob[..HEADER_LEN].copy_from_slice(&header.encode());
    for (i, t) in tensors.iter().enumerate() {
        let at = tensors_offset + i * TENSOR_RECORD_LEN;
        blob[at..at + TENSOR_RECORD_LEN].copy_from_slice(&t.encode());
    }
    for (i, l) in layers.iter().enumerate() {
        let at = layers_offset + i * LAYER_RECORD_LEN;
        blob[at..at + LAYER_RECORD_LEN].copy_from_slice(&l.encode());
    }
    blob[weights_offset..golden_offset].copy_from_slice(&section);
    let input: Vec<u8> = PIXELS.iter().map(|&p| p.wrapping_sub(128)).collect();
    blob[golden_offset..golden_offset + 16].copy_from_slice(&input);
    let seal = |blob: &mut Vec<u8>| {
        let crc = crc32(&blob[..total - CRC_LEN]).to_le_bytes();
        blob[total - CRC_LEN..].copy_from_slice(&crc);
    };
    seal(&mut blob);
    let mut embedding = [0i8; 4];
    {
        let model = Model::parse(&blob).expect("the tiny blob parses");
        let mut arena = [0u8; 96];
        model
            .run(bytemuck::cast_slice(&input), &mut arena, &mut embedding)
            .expect("it runs");
    }
    blob[golden_offset + 16..signature_offset].copy_from_slice(bytemuck::cast_slice(&embedding));
    seal(&mut blob);
    blob
}

/// The tiny blob, and prefixes of the released model (its header, tables and the start of its
/// weights: they do not parse, but the target's length and CRC fix-up takes them further).
pub(crate) fn blob_seeds() -> Vec<Seed> {
    let mut seeds = vec![seed("tiny", tiny_blob())];
    for len in [HEADER_LEN, 512, 2048, 8192] {
        seeds.push(seed(
            &format!("release-prefix-{len}"),
            RELEASE[..len].to_vec(),
        ));
    }
    seeds
}

/// Store images (after the target's four parameter bytes): erased, after three inserts and
/// counters, and after a removal on top of that; each with every scenario.
pub(crate) fn store_seeds() -> Vec<Seed> {
    use super::store::IMAGE_LEN;
    let image = |steps: &dyn Fn(&mut SmallPageFlash<'_>)| -> Vec<u8> {
        let mut mem = vec![0xFFu8; IMAGE_LEN];
        steps(&mut small_page_flash(&mut mem));
        mem
    };
    let template: Vec<i8> = (0..128).map(|i| (i * 5) as i8).collect();
    let enrolled = |flash: &mut SmallPageFlash<'_>| {
        store::insert(flash, "alice", b"model-a1", &template).unwrap();
        store::insert(flash, "bob", b"model-a1", &template[..64]).unwrap();
        store::insert(flash, "sixteen-byte-id!", b"model-b2", &template[..1]).unwrap();
        store::set_counter(flash, Counter::Nonce, 42).unwrap();
        store::set_counter(flash, Counter::VerifyFailures("bob"), 3).unwrap();
    };
    let images = [
        ("erased", image(&|_| {})),
        ("enrolled", image(&enrolled)),
        (
            "enrolled-then-removed",
            image(&|flash| {
                enrolled(flash);
                store::remove(flash, "bob").unwrap();
                store::set_counter(flash, Counter::IdentifyFailures, 2).unwrap();
            }),
        ),
    ];
    // (scenario name, parameters): read, insert "fuzz", remove "alice", set the nonce counter.
    let scenarios = [
        ("read", [0x01, 0x11, 127, 5]),
        ("insert", [0x41, 0x11, 127, 5]),
        ("remove", [0x83, 0, 0, 0]),
        ("counter", [0xC2, 0x00, 7, 9]),
    ];
    let mut seeds = Vec::new();
    // What the smoke proptest found (an insert over one zero byte in the free space after the
    // last item was acknowledged and lost; see `device::store::tests`): alice's item, then a
    // zero in the data of the next item's spot, and the insert scenario.
    let mut dirty = image(&|flash| {
        store::insert(flash, "alice", b"model-a1", &template).unwrap();
    });
    let header = (1..dirty.len() / 4)
        .map(|w| w * 4)
        .find(|&at| dirty[at..at + 8].iter().all(|&b| b == 0xFF))
        .unwrap();
    dirty[header + 9] = 0;
    let mut bytes = vec![0x41, 0x11, 127, 5];
    bytes.extend_from_slice(&dirty);
    seeds.push(seed("regression-dirty-free-space", bytes));
    for (image_name, mem) in &images {
        for (scenario, params) in &scenarios {
            let mut bytes = params.to_vec();
            bytes.extend_from_slice(mem);
            seeds.push(seed(&format!("{image_name}-{scenario}"), bytes));
        }
    }
    seeds
}
