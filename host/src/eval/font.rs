//! The one font the plots use, embedded in the binary.
//!
//! plotters is built with `ab_glyph` and without system-font lookup, so text needs a font
//! registered from bytes. We embed DejaVu Sans 2.37 (`host/assets/DejaVuSans.ttf`, under the
//! Bitstream Vera and Arev licences, redistributable unmodified; see
//! `host/assets/DejaVuSans-LICENSE.txt`), copied from Debian's `fonts-dejavu-core`, and register
//! it as plotters' `sans-serif` family, which is what plotters' default text styles ask for.

use std::sync::OnceLock;

/// DejaVu Sans, regular.
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name plots ask for (plotters' `FontFamily::SansSerif`).
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font once per process; `false` if the bytes were rejected.
pub(crate) fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_font_registers() {
        assert!(super::ensure_registered());
        assert!(super::ensure_registered(), "second call is a no-op");
    }
}
