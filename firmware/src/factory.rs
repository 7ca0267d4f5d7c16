//! The factory model: the release blob linked at the start of model slot A, so that a fresh chip
//! (a new flash file in QEMU, a board just flashed with probe-rs) boots with a model.
//!
//! It is assembled with `.incbin` into its own section (placed by memory/budgets.x), not declared
//! as a Rust `static`: the firmware erases and reprograms slot A through the NOR driver, which it
//! may not do to memory a Rust object owns.

#[cfg(feature = "factory-model")]
core::arch::global_asm!(
    ".pushsection .factory_model, \"a\"",
    ".balign 4",
    concat!(
        ".incbin \"",
        env!("CARGO_MANIFEST_DIR"),
        "/../models/facegate-v1.fgm\""
    ),
    ".balign 4",
    ".popsection",
);
