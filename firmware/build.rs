//! Puts the memory map for QEMU `mps2-an386` and the budget checks on the linker's search path and
//! links `link.x` (cortex-m-rt) followed by `budgets.x` (ours, it uses link.x's symbols).
//!
//! The map lives in `memory/mps2-an386.x`, not as `memory.x` in the package root, where the
//! linker would find it before this one.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory/mps2-an386.x", out.join("memory.x")).expect("copy memory map");
    fs::copy("memory/budgets.x", out.join("budgets.x")).expect("copy budget checks");
    println!("cargo:rustc-link-search={}", out.display());
    for path in [
        "memory/mps2-an386.x",
        "memory/budgets.x",
        "build.rs",
        "../models/facegate-v1.fgm",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tbudgets.x");
}
