//! PNG plots: ROC curve, same/different distance histograms, training curves.
//!
//! Drawn with plotters' bitmap backend and the embedded DejaVu Sans (see `font.rs`).

use super::font;
use super::metrics::{Eer, MetricsError, OperatingPoint, Roc};
use super::ScoredPair;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;

/// Plot size in pixels for single-panel plots.
pub const PLOT_SIZE: (u32, u32) = (800, 600);
/// Plot size in pixels for the three-panel training plot.
pub const TRAINING_PLOT_SIZE: (u32, u32) = (800, 900);

const SAME_COLOUR: RGBColor = RGBColor(0, 114, 178);
const DIFFERENT_COLOUR: RGBColor = RGBColor(213, 94, 0);
const MARK_COLOUR: RGBColor = RGBColor(0, 158, 115);
const THRESHOLD_COLOUR: RGBColor = RGBColor(204, 0, 0);

/// Why a plot could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The embedded font was rejected by the font parser.
    #[error("the embedded plot font could not be registered")]
    Font,
    /// There is nothing to plot.
    #[error("nothing to plot: {0}")]
    NoData(&'static str),
    /// The curve could not be computed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// plotters failed (drawing or writing the PNG).
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The finished PNG could not be synced or renamed into place.
    #[error("{path}: {message}")]
    Io {
        /// The plot's file.
        path: std::path::PathBuf,
        /// The I/O error.
        message: String,
    },
}

/// Draws into a temporary file beside `path`, renamed to `path` when complete
/// ([`crate::atomic::replace_with`]): a plot is written whole or not at all.
fn write_whole(
    path: &Path,
    draw: impl FnOnce(&Path) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    crate::atomic::replace_with(path, draw, |path, e| PlotError::Io {
        path,
        message: e.to_string(),
    })
}

/// The legend every plot draws: boxed, half-transparent white, at `position`.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", font_size))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// One row of a training log.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainLogRow {
    /// Optimiser step.
    pub step: u64,
    /// Epoch the step belongs to.
    pub epoch: u64,
    /// Batch loss.
    pub loss: f32,
    /// Fraction of mined triplets/pairs with a non-zero loss.
    pub active_fraction: f32,
    /// Mean anchor–positive distance in the batch.
    pub mean_d_ap: f32,
    /// Mean anchor–negative distance in the batch.
    pub mean_d_an: f32,
}

fn canvas(
    path: &Path,
    size: (u32, u32),
) -> Result<DrawingArea<BitMapBackend<'_>, Shift>, PlotError> {
    if !font::ensure_registered() {
        return Err(PlotError::Font);
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    Ok(root)
}

/// `[min, max]` of the finite values, padded by 5% (or ±0.5 when flat); `0..1` when none.
fn padded_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        lo - 0.5..hi + 0.5
    } else {
        let pad = 0.05 * (hi - lo);
        lo - pad..hi + pad
    }
}

/// Lower end of the log FAR axis: the decade at or below `min(1e-3, 1/N)`, at least `1e-6`.
fn far_floor(negatives: usize) -> f64 {
    let smallest = (1.0 / negatives.max(1) as f64).min(1e-3);
    10f64.powf(smallest.log10().floor()).max(1e-6)
}

/// A FAR tick label: `1e-3`, …, `1`.
fn far_label(far: f64) -> String {
    if far >= 0.999 {
        "1".to_owned()
    } else {
        format!("{far:.0e}")
    }
}

/// Decimals that tell apart ticks spread over `span`.
fn decimals_for(span: f64) -> usize {
    if span.is_finite() && span > 0.0 {
        (1.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    }
}

fn label_font() -> TextStyle<'static> {
    ("sans-serif", 16).into_font().color(&BLACK)
}

/// ROC curve, TAR against FAR on a log axis (FAR 0 is drawn at the axis' left edge), with the
/// given operating points and the EER marked; written whole or not at all.
pub fn plot_roc(
    path: &Path,
    roc: &Roc,
    marks: &[OperatingPoint],
    eer: Option<Eer>,
    title: &str,
) -> Result<(), PlotError> {
    write_whole(path, |tmp| draw_roc(tmp, roc, marks, eer, title))
}

fn draw_roc(
    path: &Path,
    roc: &Roc,
    marks: &[OperatingPoint],
    eer: Option<Eer>,
    title: &str,
) -> Result<(), PlotError> {
    let root = canvas(path, PLOT_SIZE)?;
    let lo = far_floor(roc.negatives());
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((lo * 0.999..1.0).log_scale(), 0.0..1.0)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("False accept rate (FAR, log scale)")
        .y_desc("True accept rate (TAR)")
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .light_line_style(BLACK.mix(0.04))
        .x_label_formatter(&|x| far_label(*x))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()
        .map_err(draw_err)?;
    let chance = (0..=60).map(|i| {
        let far = lo * (1.0 / lo).powf(f64::from(i) / 60.0);
        (far, far)
    });
    chart
        .draw_series(DashedLineSeries::new(chance, 6, 6, BLACK.mix(0.4).into()))
        .map_err(draw_err)?
        .label("chance")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.4)));
    let curve = roc.points().iter().map(|p| (p.far.max(lo), p.tar));
    chart
        .draw_series(LineSeries::new(curve, SAME_COLOUR.stroke_width(3)))
        .map_err(draw_err)?
        .label(format!(
            "ROC ({} same, {} different)",
            roc.positives(),
            roc.negatives()
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], SAME_COLOUR.stroke_width(3)));
    for m in marks {
        let Some(tar) = m.tar else { continue };
        let note = if m.too_few_negatives {
            " (too few negatives)"
        } else {
            ""
        };
        let text = format!("TAR {tar:.3} @ FAR ≤ {}{note}", far_label(m.target_far));
        chart
            .draw_series([EmptyElement::at((m.far.max(lo), tar))
                + Circle::new((0, 0), 6, MARK_COLOUR.filled())
                + Text::new(text, (10, 4), label_font())])
            .map_err(draw_err)?;
    }
    if let Some(e) = eer {
        let text = format!("EER {:.2}%", 100.0 * e.rate);
        chart
            .draw_series([EmptyElement::at((e.rate.max(lo), 1.0 - e.rate))
                + Cross::new((0, 0), 7, THRESHOLD_COLOUR.stroke_width(3))
                + Text::new(text, (10, 4), label_font())])
            .map_err(draw_err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 16)?;
    root.present().map_err(draw_err)
}

/// Histograms of same-person and different-person distances (each normalised to its own class
/// total), with `threshold` as a vertical line. Non-finite distances are left out. Written whole
/// or not at all.
pub fn plot_histogram(
    path: &Path,
    pairs: &[ScoredPair],
    threshold: f32,
    bins: usize,
    title: &str,
) -> Result<(), PlotError> {
    write_whole(path, |tmp| {
        draw_histogram(tmp, pairs, threshold, bins, title)
    })
}

fn draw_histogram(
    path: &Path,
    pairs: &[ScoredPair],
    threshold: f32,
    bins: usize,
    title: &str,
) -> Result<(), PlotError> {
    let finite: Vec<&ScoredPair> = pairs.iter().filter(|p| p.distance.is_finite()).collect();
    if finite.is_empty() {
        return Err(PlotError::NoData("no finite distances"));
    }
    let bins = bins.max(1);
    let x = padded_range(
        finite
            .iter()
            .map(|p| f64::from(p.distance))
            .chain(std::iter::once(f64::from(threshold))),
    );
    let width = (x.end - x.start) / bins as f64;
    let counts = |same: bool| {
        let mut h = vec![0usize; bins];
        for p in finite.iter().filter(|p| p.same == same) {
            let i = ((f64::from(p.distance) - x.start) / width) as usize;
            h[i.min(bins - 1)] += 1;
        }
        let total = h.iter().sum::<usize>().max(1) as f64;
        h.into_iter().map(|c| c as f64 / total).collect::<Vec<_>>()
    };
    let (same, different) = (counts(true), counts(false));
    let top = same.iter().chain(&different).fold(0.0f64, |a, &b| a.max(b)) * 1.1;
    let root = canvas(path, PLOT_SIZE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), 0.0..top.max(1e-3))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("Distance")
        .y_desc("Fraction of pairs of the class")
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .light_line_style(BLACK.mix(0.04))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(draw_err)?;
    let n_same = finite.iter().filter(|p| p.same).count();
    let classes = [
        (&same, SAME_COLOUR, format!("same person ({n_same})")),
        (
            &different,
            DIFFERENT_COLOUR,
            format!("different people ({})", finite.len() - n_same),
        ),
    ];
    for (hist, colour, label) in classes {
        let bars = hist.iter().enumerate().map(move |(i, &h)| {
            let left = x.start + i as f64 * width;
            Rectangle::new([(left, 0.0), (left + width, h)], colour.mix(0.45).filled())
        });
        chart
            .draw_series(bars)
            .map_err(draw_err)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], colour.filled()));
    }
    let t = f64::from(threshold);
    chart
        .draw_series(LineSeries::new(
            [(t, 0.0), (t, top)],
            THRESHOLD_COLOUR.stroke_width(3),
        ))
        .map_err(draw_err)?
        .label(format!("threshold {threshold:.4}"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], THRESHOLD_COLOUR.stroke_width(3)));
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 16)?;
    root.present().map_err(draw_err)
}

type Series<'a> = (&'a str, RGBColor, Box<dyn Fn(&TrainLogRow) -> f32 + 'a>);

fn training_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    rows: &[TrainLogRow],
    title: &str,
    y_desc: &str,
    fixed_y: Option<Range<f64>>,
    series: &[Series<'_>],
) -> Result<(), PlotError> {
    let steps = padded_range(rows.iter().map(|r| r.step as f64));
    let x = steps.start.max(0.0)..steps.end;
    let y = fixed_y.unwrap_or_else(|| {
        padded_range(
            rows.iter()
                .flat_map(|r| series.iter().map(move |(_, _, f)| f64::from(f(r)))),
        )
    });
    // One series is named by the panel title; several get a legend, above the data.
    let legend = series.len() > 1;
    let y = if legend {
        y.start..y.end + 0.45 * (y.end - y.start)
    } else {
        y
    };
    let decimals = decimals_for(y.end - y.start);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("Step")
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 15))
        .light_line_style(BLACK.mix(0.04))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .draw()
        .map_err(draw_err)?;
    for (label, colour, f) in series {
        let points = rows
            .iter()
            .map(|r| (r.step as f64, f64::from(f(r))))
            .filter(|(_, v)| v.is_finite());
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(draw_err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2)));
    }
    if !legend {
        return Ok(());
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 15)
}

/// Training curves, three panels against step: loss; active fraction; mean anchor–positive and
/// anchor–negative distances. Non-finite values are left out of the lines. Written whole or not
/// at all.
pub fn plot_training(path: &Path, rows: &[TrainLogRow], title: &str) -> Result<(), PlotError> {
    write_whole(path, |tmp| draw_training(tmp, rows, title))
}

fn draw_training(path: &Path, rows: &[TrainLogRow], title: &str) -> Result<(), PlotError> {
    if rows.is_empty() {
        return Err(PlotError::NoData("empty training log"));
    }
    let root = canvas(path, TRAINING_PLOT_SIZE)?;
    let root = root.titled(title, ("sans-serif", 26)).map_err(draw_err)?;
    let panels = root.split_evenly((3, 1));
    let loss: [Series<'_>; 1] = [("loss", SAME_COLOUR, Box::new(|r| r.loss))];
    training_panel(&panels[0], rows, "Loss", "Loss", None, &loss)?;
    let active: [Series<'_>; 1] = [(
        "active fraction",
        MARK_COLOUR,
        Box::new(|r| r.active_fraction),
    )];
    training_panel(
        &panels[1],
        rows,
        "Active fraction (non-zero loss)",
        "Fraction",
        Some(0.0..1.0),
        &active,
    )?;
    let distances: [Series<'_>; 2] = [
        (
            "mean d(anchor, positive)",
            SAME_COLOUR,
            Box::new(|r| r.mean_d_ap),
        ),
        (
            "mean d(anchor, negative)",
            DIFFERENT_COLOUR,
            Box::new(|r| r.mean_d_an),
        ),
    ];
    training_panel(
        &panels[2],
        rows,
        "Mean batch distances",
        "Distance",
        None,
        &distances,
    )?;
    root.present().map_err(draw_err)
}
