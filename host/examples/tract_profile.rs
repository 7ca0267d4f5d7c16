//! Where tract's time goes on an exported model: time per operator kind over repeated runs.
//!
//! `cargo run -p facegate --example tract_profile -- [MODEL.onnx] [BATCH] [--nodes]`
//! (defaults: `models/facegate-v1.onnx`, batch 1; `--nodes`: per node instead of per operator
//! kind). Figures are in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::time::Instant;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "models/facegate-v1.onnx".into());
    let n: usize = args.next().map_or(Ok(1), |v| v.parse())?;
    let per_node = args.next().as_deref() == Some("--nodes");
    let checked = facegate::onnx::read_model_file(std::path::Path::new(&path))?;
    let side = usize::from(checked.metadata.preprocess.out_side);
    let plan = facegate::onnx::tract_runner::optimized_plan(&checked, n)?;
    let x = Tensor::from_shape(&[n, 1, side, side], &vec![0.1f32; n * side * side])?;
    let mut times: BTreeMap<String, f64> = BTreeMap::new();
    let runs = 400 / n + 1;
    let mut state = plan.spawn()?;
    for _ in 0..runs {
        state.run_plan_with_eval(tvec!(x.clone().into()), |ctx, st, node, input| {
            let started = Instant::now();
            let out = tract_onnx::tract_core::plan::eval(ctx, st, node, input);
            let key = if per_node {
                format!("{} ({})", node.name, node.op().name())
            } else {
                node.op().name().to_string()
            };
            *times.entry(key).or_default() += started.elapsed().as_secs_f64();
            out
        })?;
    }
    let images = (runs * n) as f64;
    let total: f64 = times.values().sum();
    println!("{path}, batch {n}, {runs} runs:");
    for (op, t) in &times {
        println!(
            "  {op:48} {:5.1} %  {:7.4} ms/image",
            100.0 * t / total,
            1e3 * t / images
        );
    }
    println!("  total {:.4} ms/image", 1e3 * total / images);
    Ok(())
}
