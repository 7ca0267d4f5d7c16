//! `facegate bench int8`: embeddings/s of the `facegate-shared` int8 engine (the device's
//! reference kernels) on the host, one thread and all cores, on generated images.

use crate::quantize::embed_i8;
use anyhow::{Context, Result};
use facegate_shared::blob::Model;
use facegate_shared::preprocess::input_i8;
use std::path::Path;
use std::time::Instant;

/// Times `images` embeddings of the `.fgm` at `model` (an `.onnx` path is read as the `.fgm`
/// beside it).
pub fn bench_int8(model: &Path, images: usize) -> Result<()> {
    let path = model.with_extension("fgm");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = Model::parse(&bytes).with_context(|| path.display().to_string())?;
    let side = parsed.header().input_height as usize;
    let pixels: Vec<Vec<u8>> = (0..images.max(1))
        .map(|k| {
            (0..side * side)
                .map(|i| ((i * 31 + k * 97) % 251) as u8)
                .collect()
        })
        .collect();
    let refs: Vec<&[u8]> = pixels.iter().map(Vec::as_slice).collect();
    let mut arena = vec![0u8; parsed.arena_size()];
    let mut embedding = vec![0i8; parsed.embedding_dim()];
    let mut input = vec![0i8; side * side];
    // Warm-up.
    input
        .iter_mut()
        .zip(refs[0])
        .for_each(|(q, &p)| *q = input_i8(p));
    parsed.run(&input, &mut arena, &mut embedding)?;
    let start = Instant::now();
    for image in &refs {
        input
            .iter_mut()
            .zip(*image)
            .for_each(|(q, &p)| *q = input_i8(p));
        parsed.run(&input, &mut arena, &mut embedding)?;
    }
    let one = refs.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    embed_i8(&parsed, &refs, |_| {})?;
    let all = refs.len() as f64 / start.elapsed().as_secs_f64();
    let macs = f64::from(parsed.header().macs);
    println!(
        "int8 engine, {}: {} bytes, arena {} bytes, {} MACs; {} images",
        path.display(),
        bytes.len(),
        parsed.arena_size(),
        parsed.header().macs,
        refs.len()
    );
    println!(
        "  1 thread: {one:.1} embeddings/s ({:.2} ms each, {:.2} GMAC/s)",
        1e3 / one,
        one * macs / 1e9
    );
    println!(
        "  {} threads: {all:.1} embeddings/s",
        rayon::current_num_threads()
    );
    Ok(())
}
