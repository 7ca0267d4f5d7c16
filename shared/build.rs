//! Sets `cfg(facegate_dsp)` for targets with the Armv7E-M DSP extension (the Cortex-M4/M7
//! targets `thumbv7em-*`), which the DSP kernels (`src/int8/dsp`) need. Rust's own
//! `target_feature = "dsp"` is unstable, so stable builds cannot test it.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(facegate_dsp)");
    println!("cargo:rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em-") {
        println!("cargo:rustc-cfg=facegate_dsp");
    }
}
