//! The DSP kernels against the portable ones on the device (`--features kernel-check`): random
//! shapes (odd channel counts, strides 1 and 2, padding edges, one-pixel images, rows of every
//! length up to the fast paths' limits), random zero points, multipliers, shifts, biases and
//! clamp ranges, and data biased to −128 and 127. Every output byte of the DSP kernel (the real
//! SMLAD / SXTB16 / asm loops) must equal the portable kernel's; and the asm instructions and
//! loops must equal their Rust emulation on random words. Prints one line per kernel,
//! `kernel-check <kind> cases=<n> bytes=<n> mismatches=<n>`, then `kernel-check done ok|fail`,
//! and exits with the verdict.

use embedded_io::Write;
use facegate_shared::int8::add::Add;
use facegate_shared::int8::channel::CHANNEL_BYTES;
use facegate_shared::int8::dense::Dense;
use facegate_shared::int8::depthwise::DepthwiseConv2d;
use facegate_shared::int8::dsp::{arm, emulated};
use facegate_shared::int8::fixedpoint::{Requantizer, RightShiftParts};
use facegate_shared::int8::pointwise::PointwiseConv;
use facegate_shared::int8::{ChannelParam, ChannelParams, OutputStage, QuantizedMultiplier};
use facegate_shared::int8::{Shape, Window};

/// Random cases per kernel kind.
const CASES: u32 = 300;

/// xorshift32.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as u32) as i32
    }
    /// An int8 value, a third of them −128 or 127.
    fn byte(&mut self) -> i8 {
        match self.below(6) {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => self.next() as i8,
        }
    }
    fn fill(&mut self, buf: &mut [i8]) {
        for b in buf {
            *b = self.byte();
        }
    }
    /// Channel constants: multipliers in [2^30, 2^31) (or 0), mostly right shifts.
    fn params(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(CHANNEL_BYTES) {
            let multiplier = match self.below(8) {
                0 => 0,
                1 => i32::MAX,
                _ => (1 << 30) + (self.next() >> 2) as i32,
            };
            let shift = match self.below(8) {
                0 => self.range(0, 30),
                1 => -1,
                _ => self.range(-31, -2),
            };
            let bias = match self.below(4) {
                0 => self.next() as i32,
                _ => self.range(-100_000, 100_000),
            };
            let p = ChannelParam {
                bias,
                requantize: QuantizedMultiplier { multiplier, shift },
            };
            chunk.copy_from_slice(&p.to_bytes());
        }
    }
    /// Half the time, makes `params` and the stage of the released model's kind (every
    /// multiplier shifting right by 2 or more, a linear or ReLU clamp: the kernels' lean
    /// requantisation); returns the stage.
    fn maybe_lean(&mut self, params: &mut [u8]) -> OutputStage {
        if self.below(2) == 0 {
            return self.stage();
        }
        for chunk in params.chunks_exact_mut(CHANNEL_BYTES) {
            let shift = self.range(-31, -2);
            chunk[8..12].copy_from_slice(&shift.to_le_bytes());
        }
        if self.below(2) == 0 {
            OutputStage::linear(self.range(-128, 127))
        } else {
            OutputStage::relu(self.range(-128, 127))
        }
    }

    fn stage(&mut self) -> OutputStage {
        let zero_point = self.range(-128, 127);
        let (a, b) = (self.byte(), self.byte());
        match self.below(3) {
            0 => OutputStage::linear(zero_point),
            1 => OutputStage::relu(zero_point),
            _ => OutputStage {
                zero_point,
                min: a.min(b),
                max: a.max(b),
            },
        }
    }
}

/// One kernel kind's tally.
#[derive(Default)]
struct Tally {
    cases: u32,
    bytes: u32,
    mismatches: u32,
}

impl Tally {
    /// One case: the bytes compared when both kernels ran, one mismatch when either refused.
    fn record<E>(&mut self, ran: Result<(), E>, dsp: &[i8], portable: &[i8]) {
        match ran {
            Ok(()) => self.compare(dsp, portable),
            Err(_) => self.mismatches += 1,
        }
    }

    fn compare(&mut self, dsp: &[i8], portable: &[i8]) {
        self.cases += 1;
        self.bytes += dsp.len() as u32;
        self.mismatches += dsp.iter().zip(portable).filter(|(a, b)| a != b).count() as u32;
        self.mismatches += dsp.len().abs_diff(portable.len()) as u32;
    }
}

/// Splits the arena into the buffers a case needs.
struct Buffers<'a> {
    input: &'a mut [i8],
    weights: &'a mut [i8],
    params: &'a mut [u8],
    dsp: &'a mut [i8],
    portable: &'a mut [i8],
}

fn buffers(arena: &mut [u8]) -> Option<Buffers<'_>> {
    let arena: &mut [i8] = bytemuck_cast(arena);
    let (input, rest) = arena.split_at_mut_checked(8192)?;
    let (weights, rest) = rest.split_at_mut_checked(8192)?;
    let (params, rest) = rest.split_at_mut_checked(3072)?;
    let (dsp, rest) = rest.split_at_mut_checked(6144)?;
    let (portable, _) = rest.split_at_mut_checked(6144)?;
    Some(Buffers {
        input,
        weights,
        params: bytemuck_cast_back(params),
        dsp,
        portable,
    })
}

fn bytemuck_cast(bytes: &mut [u8]) -> &mut [i8] {
    facegate_shared::int8::dsp::as_i8_mut(bytes)
}

fn bytemuck_cast_back(bytes: &mut [i8]) -> &mut [u8] {
    facegate_shared::int8::dsp::as_u8_mut(bytes)
}

fn pointwise(rng: &mut Rng, b: &mut Buffers<'_>, tally: &mut Tally, in_place: bool) {
    let c_in = match rng.below(4) {
        0 => rng.range(1, 20),
        1 => 16,
        2 => rng.range(60, 68),
        _ => rng.range(124, 128),
    } as usize;
    let c_out = if in_place {
        rng.range(1, c_in as i32).min((8192 / c_in) as i32) as usize
    } else {
        rng.range(1, 130).min((8192 / c_in) as i32) as usize
    };
    let pixels = rng.range(1, 40).min((6144 / c_in.max(c_out)) as i32) as usize;
    rng.fill(&mut b.input[..pixels * c_in]);
    rng.fill(&mut b.weights[..c_in * c_out]);
    rng.params(&mut b.params[..c_out * CHANNEL_BYTES]);
    let stage = rng.maybe_lean(&mut b.params[..c_out * CHANNEL_BYTES]);
    let Some(channels) = ChannelParams::new(&b.params[..c_out * CHANNEL_BYTES]) else {
        return;
    };
    let layer = PointwiseConv {
        pixels,
        c_in,
        c_out,
        input_zero_point: rng.range(-128, 127),
        weights: &b.weights[..c_in * c_out],
        channels,
        stage,
    };
    let input = &b.input[..pixels * c_in];
    if in_place {
        let mut scratch = [0i8; 128];
        b.dsp[..input.len()].copy_from_slice(input);
        b.portable[..input.len()].copy_from_slice(input);
        let ok = layer
            .run_in_place_dsp(&mut b.dsp[..input.len()], &mut scratch[..c_in])
            .and(layer.run_in_place_portable(&mut b.portable[..input.len()], &mut scratch[..c_in]));
        tally.record(ok, &b.dsp[..pixels * c_out], &b.portable[..pixels * c_out]);
        return;
    }
    let n = pixels * c_out;
    let ok = layer
        .run_dsp(input, &mut b.dsp[..n])
        .and(layer.run_portable(input, &mut b.portable[..n]));
    tally.record(ok, &b.dsp[..n], &b.portable[..n]);
}

fn dense(rng: &mut Rng, b: &mut Buffers<'_>, tally: &mut Tally) {
    let c_in = match rng.below(3) {
        0 => rng.range(1, 20),
        1 => 256,
        _ => rng.range(240, 256),
    } as usize;
    let c_out = rng.range(1, 31) as usize;
    rng.fill(&mut b.input[..c_in]);
    rng.fill(&mut b.weights[..c_in * c_out]);
    rng.params(&mut b.params[..c_out * CHANNEL_BYTES]);
    let stage = rng.maybe_lean(&mut b.params[..c_out * CHANNEL_BYTES]);
    let Some(channels) = ChannelParams::new(&b.params[..c_out * CHANNEL_BYTES]) else {
        return;
    };
    let layer = Dense {
        c_in,
        c_out,
        input_zero_point: rng.range(-128, 127),
        weights: &b.weights[..c_in * c_out],
        channels,
        stage,
    };
    let ok = layer
        .run_dsp(&b.input[..c_in], &mut b.dsp[..c_out])
        .and(layer.run_portable(&b.input[..c_in], &mut b.portable[..c_out]));
    tally.record(ok, &b.dsp[..c_out], &b.portable[..c_out]);
}

fn add(rng: &mut Rng, b: &mut Buffers<'_>, tally: &mut Tally) {
    let n = rng.range(1, 6000) as usize;
    rng.fill(&mut b.input[..n]);
    rng.fill(&mut b.dsp[..n]);
    b.portable[..n].copy_from_slice(&b.dsp[..n]);
    let mut multiplier = || QuantizedMultiplier {
        multiplier: (1 << 30) + (rng.next() >> 2) as i32,
        shift: rng.range(-24, 0),
    };
    let (input1, input2, output) = (multiplier(), multiplier(), multiplier());
    let zero_point = rng.range(-128, 127);
    let stage = match rng.below(3) {
        0 => OutputStage::linear(zero_point),
        1 => OutputStage::relu(zero_point),
        _ => rng.stage(),
    };
    let layer = Add {
        input1_zero_point: rng.range(-128, 127),
        input1,
        input2_zero_point: rng.range(-128, 127),
        input2,
        output,
        stage,
    };
    let ok = layer
        .run_in_place_dsp(&b.input[..n], &mut b.dsp[..n])
        .and(layer.run_in_place_portable(&b.input[..n], &mut b.portable[..n]));
    tally.record(ok, &b.dsp[..n], &b.portable[..n]);
}

fn depthwise(rng: &mut Rng, b: &mut Buffers<'_>, tally: &mut Tally) {
    let c = match rng.below(3) {
        0 => rng.range(1, 5),
        1 => 16,
        _ => rng.range(15, 18),
    } as u16;
    let (h, w) = (rng.range(1, 12) as u16, rng.range(1, 34) as u16);
    let window = Window {
        kernel: 3,
        stride: rng.range(1, 2) as u8,
        padding: [1u8, 1, 1, 0, 2][rng.below(5) as usize],
    };
    let (Some(oh), Some(ow)) = (window.output_side(h), window.output_side(w)) else {
        return;
    };
    let input = Shape::new(h, w, c);
    let output = Shape::new(oh, ow, c);
    if input.len() > b.input.len() || output.len() > b.dsp.len() {
        return;
    }
    rng.fill(&mut b.input[..input.len()]);
    rng.fill(&mut b.weights[..9 * c as usize]);
    rng.params(&mut b.params[..c as usize * CHANNEL_BYTES]);
    let Some(channels) = ChannelParams::new(&b.params[..c as usize * CHANNEL_BYTES]) else {
        return;
    };
    let layer = DepthwiseConv2d {
        input,
        output,
        window,
        input_zero_point: rng.range(-128, 127),
        weights: &b.weights[..9 * c as usize],
        channels,
        stage: rng.stage(),
    };
    let n = output.len();
    let ok = layer
        .run_dsp(&b.input[..input.len()], &mut b.dsp[..n])
        .and(layer.run_portable(&b.input[..input.len()], &mut b.portable[..n]));
    tally.record(ok, &b.dsp[..n], &b.portable[..n]);
}

/// The asm instructions and loops against their emulation on random words.
fn instructions(rng: &mut Rng, tally: &mut Tally) {
    let (a, b, c) = (rng.next(), rng.next(), rng.next() as i32);
    let pairs = [
        (arm::sxtb16(a), emulated::sxtb16(a)),
        (arm::sxtb16_ror8(a), emulated::sxtb16_ror8(a)),
        (arm::ssub16(a, b), emulated::ssub16(a, b)),
        (arm::smlad(a, b, c) as u32, emulated::smlad(a, b, c) as u32),
        (
            arm::smlabb(a, b, c) as u32,
            emulated::smlabb(a, b, c) as u32,
        ),
        (
            arm::smlatb(a, b, c) as u32,
            emulated::smlatb(a, b, c) as u32,
        ),
        (arm::pkhbt(a, b), emulated::pkhbt(a, b)),
        (arm::pkhtb(a, b), emulated::pkhtb(a, b)),
    ];
    let mut words = [0u32; 64];
    for w in words.iter_mut() {
        // Halves within ±255 as the kernels feed them, and now and then anything.
        *w = if rng.below(4) == 0 {
            rng.next()
        } else {
            facegate_shared::int8::dsp::halves(rng.range(-255, 255), rng.range(-255, 255))
        };
    }
    let mut weights = [0u8; 32];
    for w in weights.iter_mut() {
        *w = rng.next() as u8;
    }
    let groups = rng.range(0, 8) as usize;
    let (mut x, mut y) = ([c; 4], [c; 4]);
    arm::dot_4x1(&weights[..4 * groups], &words, &mut x);
    emulated::dot_4x1(&weights[..4 * groups], &words, &mut y);
    let (mut u, mut v) = ([c; 4], [c; 4]);
    arm::dot_4x1_fixed::<4>(&weights, &words, &mut u);
    emulated::dot_4x1_fixed::<4>(&weights, &words, &mut v);
    let (mut p, mut q) = ([c; 2], [c; 2]);
    arm::dot_1x2(&weights[..4 * groups], &weights[4..], &words, &mut p);
    emulated::dot_1x2(&weights[..4 * groups], &weights[4..], &words, &mut q);
    let mut mismatches = pairs.iter().filter(|(a, b)| a != b).count() as u32;
    mismatches += (x != y) as u32 + (u != v) as u32 + (p != q) as u32;
    let rows = [&words[..20], &words[20..40], &words[40..60]];
    let w6: [u32; 6] = core::array::from_fn(|i| words[i] & if i % 2 == 1 { 0xffff } else { !0 });
    let n = rng.range(1, 8) as usize;
    let (mut r1, mut r2) = ([0i32; 9], [0i32; 9]);
    arm::depthwise_row::<2>(rows, &w6, &mut r1[..n]);
    emulated::depthwise_row::<2>(rows, &w6, &mut r2[..n]);
    mismatches += (r1 != r2) as u32;
    arm::depthwise_row::<1>(rows, &w6, &mut r1[..n]);
    emulated::depthwise_row::<1>(rows, &w6, &mut r2[..n]);
    mismatches += (r1 != r2) as u32;
    let mut params = [0u8; CHANNEL_BYTES];
    rng.params(&mut params);
    let Some(param) = ChannelParams::new(&params).and_then(|p| p.get(0)) else {
        return;
    };
    let rq = Requantizer::new(param.requantize);
    let stage = rng.stage();
    let acc: [i32; 4] = core::array::from_fn(|_| rng.next() as i32 >> rng.below(16));
    let (mut o1, mut o2) = ([0i8; 13], [0i8; 13]);
    arm::requantize4(&acc, param.bias, &rq, stage, &mut o1, 4);
    emulated::requantize4(&acc, param.bias, &rq, stage, &mut o2, 4);
    mismatches += (o1 != o2) as u32;
    arm::requantize_strided(&acc[..n.min(4)], param.bias, &rq, stage, &mut o1, 3);
    emulated::requantize_strided(&acc[..n.min(4)], param.bias, &rq, stage, &mut o2, 3);
    mismatches += (o1 != o2) as u32;
    let e = rng.range(2, 31) as u32;
    let parts = RightShiftParts {
        multiplier: (1 << 30) + (rng.next() >> 2) as i32,
        nudge_high: 1 << (e - 2),
        post_shift: e - 1,
    };
    let (zp, min) = (rng.range(-128, 127), rng.range(-128, 127));
    arm::requantize4_lean(&acc, param.bias, parts, zp, min, &mut o1, 4);
    emulated::requantize4_lean(&acc, param.bias, parts, zp, min, &mut o2, 4);
    mismatches += (o1 != o2) as u32;
    let mut records = [0u8; 3 * CHANNEL_BYTES];
    rng.params(&mut records);
    for chunk in records.chunks_exact_mut(CHANNEL_BYTES) {
        let shift = rng.range(-31, -2);
        chunk[8..12].copy_from_slice(&shift.to_le_bytes());
    }
    let accs: [[i32; 4]; 3] =
        core::array::from_fn(|_| core::array::from_fn(|_| rng.next() as i32 >> rng.below(16)));
    let relu = rng.below(2) == 0;
    let (mut c1, mut c2) = ([0i8; 16], [0i8; 16]);
    arm::requantize_chunk(&accs, &records, zp, relu, &mut c1, 4);
    emulated::requantize_chunk(&accs, &records, zp, relu, &mut c2, 4);
    mismatches += (c1 != c2) as u32;
    let mut bytes = [0i8; 64];
    rng.fill(&mut bytes);
    let (stride, count) = (rng.range(1, 5) as usize, rng.range(1, 12) as usize);
    let (mut g1, mut g2) = ([0u32; 12], [0u32; 12]);
    let l1 = arm::gather_pairs(&bytes, stride, count, zp, c, &mut g1);
    let l2 = emulated::gather_pairs(&bytes, stride, count, zp, c, &mut g2);
    mismatches += (g1 != g2 || l1 != l2) as u32;
    tally.cases += 1;
    tally.bytes += 4 * (pairs.len() as u32 + 13);
    tally.mismatches += mismatches;
}

fn report<W: Write>(out: &mut W, kind: &str, t: &Tally) -> bool {
    let _ = writeln!(
        out,
        "kernel-check {kind} cases={} bytes={} mismatches={}",
        t.cases, t.bytes, t.mismatches
    );
    t.cases > 0 && t.mismatches == 0
}

/// Runs every comparison; returns whether all matched.
pub fn run<W: Write>(out: &mut W, arena: &mut [u8]) -> bool {
    let Some(mut b) = buffers(arena) else {
        let _ = writeln!(out, "kernel-check arena too small");
        return false;
    };
    let mut rng = Rng(0x2545_f491);
    let mut ok = true;
    let mut t = Tally::default();
    for _ in 0..CASES {
        instructions(&mut rng, &mut t);
    }
    ok &= report(out, "instructions", &t);
    let mut t = Tally::default();
    for _ in 0..CASES {
        pointwise(&mut rng, &mut b, &mut t, false);
    }
    ok &= report(out, "pointwise", &t);
    let mut t = Tally::default();
    for _ in 0..CASES {
        pointwise(&mut rng, &mut b, &mut t, true);
    }
    ok &= report(out, "pointwise-in-place", &t);
    let mut t = Tally::default();
    for _ in 0..CASES {
        dense(&mut rng, &mut b, &mut t);
    }
    ok &= report(out, "dense", &t);
    let mut t = Tally::default();
    for _ in 0..CASES {
        depthwise(&mut rng, &mut b, &mut t);
    }
    ok &= report(out, "depthwise", &t);
    let mut t = Tally::default();
    for _ in 0..CASES {
        add(&mut rng, &mut b, &mut t);
    }
    ok &= report(out, "add", &t);
    let _ = writeln!(
        out,
        "kernel-check stack_peak={}",
        crate::layout::stack_peak()
    );
    let _ = writeln!(out, "kernel-check done {}", if ok { "ok" } else { "fail" });
    ok
}
