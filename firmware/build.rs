//! Puts the memory map for QEMU `mps2-an386` on the linker's search path and links `link.x`.
//!
//! The map lives in `memory/mps2-an386.x`, not as `memory.x` in the package root, where the
//! linker would find it before this one.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory/mps2-an386.x", out.join("memory.x")).expect("copy memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory/mps2-an386.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg=-Tlink.x");
}
