//! The boot check of the int8 model: parse the blob in flash and run its golden vectors through
//! the `facegate-shared` engine, printing every embedding so the host can compare the device's
//! bytes with its own.

use embedded_io::Write;
use facegate_shared::blob::Model;

fn hex<W: Write>(out: &mut W, bytes: impl Iterator<Item = u8>) -> Result<(), W::Error> {
    for b in bytes {
        write!(out, "{b:02x}").map_err(super::report::fmt_error)?;
    }
    Ok(())
}

/// Prints `model ...`, one `golden <i> <hex embedding>` per golden vector and
/// `golden done <n> ok|mismatch|error`; returns whether every vector matched.
pub fn run_golden<W: Write>(out: &mut W, blob: &[u8], arena: &mut [u8]) -> Result<bool, W::Error> {
    use super::report::fmt_error;
    let model = match Model::parse(blob) {
        Ok(m) => m,
        Err(e) => {
            writeln!(out, "model error {e}").map_err(fmt_error)?;
            return Ok(false);
        }
    };
    let h = *model.header();
    write!(out, "model id ").map_err(fmt_error)?;
    hex(out, h.model_id.iter().copied())?;
    writeln!(
        out,
        " bytes {} arena {} macs {} threshold {}",
        h.total_len, h.arena_size, h.macs, h.threshold
    )
    .map_err(fmt_error)?;
    let mut embedding = [0i8; 512];
    let Some(embedding) = embedding.get_mut(..model.embedding_dim()) else {
        writeln!(out, "golden done 0 error embedding longer than 512").map_err(fmt_error)?;
        return Ok(false);
    };
    let mut all_match = true;
    for i in 0..h.golden_count {
        let Some(golden) = model.golden(i) else {
            all_match = false;
            break;
        };
        if let Err(e) = model.run(golden.input, arena, embedding) {
            writeln!(out, "golden done {i} error {e}").map_err(fmt_error)?;
            return Ok(false);
        }
        write!(out, "golden {i} ").map_err(fmt_error)?;
        hex(out, embedding.iter().map(|&v| v as u8))?;
        writeln!(out).map_err(fmt_error)?;
        all_match &= embedding == golden.embedding;
    }
    let verdict = if all_match { "ok" } else { "mismatch" };
    writeln!(out, "golden done {} {verdict}", h.golden_count).map_err(fmt_error)?;
    Ok(all_match)
}
