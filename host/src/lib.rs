//! facegate host library: data, sampler, model, losses, miners, training, evaluation.
//!
//! One module per pipeline stage, as in burn's examples; the `facegate` binary is a thin CLI over
//! these.

pub mod atomic;
pub mod backend;
pub mod commands;
pub mod data;
pub mod device;
pub mod diagnostics;
pub mod eval;
pub mod folded;
pub mod inference;
pub mod loss;
pub mod mining;
pub mod model;
pub mod offline_mining;
pub mod onnx;
pub mod ops;
pub mod quantize;
pub mod run;
pub mod sampler;
pub mod tensors;
pub mod training;
