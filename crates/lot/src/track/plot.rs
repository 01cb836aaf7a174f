//! PNG line plots of training curves (pure Rust, via `plotters`).
//!
//! [`plot_panels`] draws one image with several panels side by side (one row), each with its
//! own axes, grid and legend; [`plot_charts`] also takes strip panels ([`StripPanel`]): per group,
//! its runs' values as dots and their mean with a 95 % interval, for a number measured once per run. Text (titles, tick labels, legends) needs a TrueType font, which
//! is loaded once at run time from the first existing of `$LOT_FONT` and a few usual system
//! paths. When no font is found the plot is still drawn (lines, bands, grid, axes frame) without
//! any text, and a single warning is printed to stderr.
//!
//! The image is rendered into an in-memory RGB buffer ([`render_to_buffer`]), encoded as PNG by the
//! `image` crate (plotters' own encoder) and written atomically (`fsio::write_atomic`), so readers
//! never see a half-written file.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use plotters::chart::MeshStyle;
use plotters::coord::types::RangedCoordf64;
use plotters::style::{register_font, FontStyle};

/// Width of one panel in pixels.
pub const PANEL_WIDTH: u32 = 640;
/// Height of the image in pixels.
pub const PANEL_HEIGHT: u32 = 480;

/// One curve of a panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend text; an empty label gives no legend entry.
    pub label: String,
    /// `(x, y)` points, drawn in order. Points with a non-finite coordinate are skipped (the
    /// line is broken there).
    pub points: Vec<(f64, f64)>,
    /// optional (lower, upper) band per point for shaded std
    pub band: Option<Vec<(f64, f64)>>,
}

/// One chart of the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// One group of a strip panel: its values as dots at one x position, their mean and interval beside them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Strip {
    /// Legend text.
    pub label: String,
    /// One value per run (non-finite values are skipped).
    pub values: Vec<f64>,
    pub mean: f64,
    /// The mean's 95 % interval; `None` for a single value.
    pub interval: Option<(f64, f64)>,
    /// Palette index (so that a group keeps the colour it has in the line panels beside it).
    pub color: usize,
}

/// A chart of values measured once per run: one strip per group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StripPanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub strips: Vec<Strip>,
}

/// One chart of an image: curves, or strips.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Lines(Panel),
    Strips(StripPanel),
}

/// Fixed series palette (tab10 order, red first).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(214, 39, 40),   // red
    RGBColor(31, 119, 180),  // blue
    RGBColor(44, 160, 44),   // green
    RGBColor(255, 127, 14),  // orange
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(127, 127, 127), // gray
    RGBColor(188, 189, 34),  // olive
    RGBColor(23, 190, 207),  // cyan
];

pub(crate) const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
pub(crate) const FONT_FAMILY: &str = "sans-serif";
const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

pub(crate) fn palette_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws one PNG with the panels side by side (1 row, panels.len() columns), each with axes,
/// grid, legend; width 640 px per panel, height 480.
pub fn plot_panels(path: &Path, panels: &[Panel]) -> Result<()> {
    plot_charts(path, &lines(panels))
}

/// [`plot_panels`] for charts of either kind.
pub fn plot_charts(path: &Path, charts: &[Chart]) -> Result<()> {
    if charts.is_empty() {
        bail!("plot {}: no panels to draw", path.display());
    }
    let w = u32::try_from(charts.len())
        .ok()
        .and_then(|n| n.checked_mul(PANEL_WIDTH))
        .ok_or_else(|| {
            anyhow!(
                "plot {}: too many panels ({})",
                path.display(),
                charts.len()
            )
        })?;
    let h = PANEL_HEIGHT;
    let rgb = render_charts(charts, w, h, ensure_font())
        .with_context(|| format!("rendering plot {}", path.display()))?;
    let png = encode_png(&rgb, w, h)?;
    crate::fsio::write_atomic(path, &png)
}

fn lines(panels: &[Panel]) -> Vec<Chart> {
    panels.iter().cloned().map(Chart::Lines).collect()
}

/// Renders the panels into an RGB8 buffer of `w * h * 3` bytes (row-major, top row first).
#[cfg(test)]
pub(crate) fn render_to_buffer(panels: &[Panel], w: u32, h: u32) -> Result<Vec<u8>> {
    render(panels, w, h, ensure_font())
}

/// Registers a TrueType font for `sans-serif` once per process; returns whether text can be drawn.
pub(crate) fn ensure_font() -> bool {
    static FONT_OK: OnceLock<bool> = OnceLock::new();
    *FONT_OK.get_or_init(|| {
        let env = std::env::var_os("LOT_FONT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let candidates = env
            .into_iter()
            .chain(FONT_CANDIDATES.iter().map(PathBuf::from));
        for cand in candidates {
            let Ok(bytes) = std::fs::read(&cand) else {
                continue;
            };
            // register_font needs 'static data: leak the bytes once (at most one leak per
            // candidate file, and this runs once per process).
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
        eprintln!(
            "lot: warning: no usable TTF font found (set LOT_FONT=/path/to/font.ttf); \
             plots are drawn without text"
        );
        false
    })
}

#[cfg(test)]
fn render(panels: &[Panel], w: u32, h: u32, text: bool) -> Result<Vec<u8>> {
    render_charts(&lines(panels), w, h, text)
}

/// Rendering proper; `text` = false draws no text at all (no font is needed then).
fn render_charts(panels: &[Chart], w: u32, h: u32, text: bool) -> Result<Vec<u8>> {
    if w == 0 || h == 0 {
        bail!("plot size must be non-zero, got {w}x{h}");
    }
    if panels.is_empty() {
        bail!("no panels to draw");
    }
    let len = (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(|| anyhow!("plot size {w}x{h} too large"))?;
    let mut buf = vec![0u8; len];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&BACKGROUND).map_err(plot_err)?;
        let cols = root.split_evenly((1, panels.len()));
        for (i, (area, chart)) in cols.iter().zip(panels).enumerate() {
            match chart {
                Chart::Lines(p) => draw_panel(area, p, text)
                    .with_context(|| format!("panel {i} ({:?})", p.title))?,
                Chart::Strips(p) => draw_strips(area, p, text)
                    .with_context(|| format!("panel {i} ({:?})", p.title))?,
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotters: {e}")
}

fn finite_pt(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite()
}

/// Splits a point list into maximal runs of finite points.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|p| !finite_pt(p))
        .filter(|r| !r.is_empty())
        .map(|r| r.to_vec())
        .collect()
}

/// Band polygons: for each maximal run of points where x, lower and upper are finite, the
/// polygon upper (forward) + lower (backward). Runs of a single point are skipped.
fn band_polygons(s: &Series) -> Vec<Vec<(f64, f64)>> {
    let Some(band) = &s.band else {
        return Vec::new();
    };
    let rows: Vec<Option<(f64, f64, f64)>> = s
        .points
        .iter()
        .zip(band)
        .map(|(&(x, _), &(lo, hi))| {
            (x.is_finite() && lo.is_finite() && hi.is_finite()).then_some((x, lo, hi))
        })
        .collect();
    rows.split(|r| r.is_none())
        .filter(|r| r.len() >= 2)
        .map(|run| {
            let run: Vec<(f64, f64, f64)> = run.iter().flatten().copied().collect();
            let mut poly: Vec<(f64, f64)> = run.iter().map(|&(x, _, hi)| (x, hi)).collect();
            poly.extend(run.iter().rev().map(|&(x, lo, _)| (x, lo)));
            poly
        })
        .collect()
}

/// Min/max accumulator over finite values.
#[derive(Clone, Copy)]
pub(crate) struct Extent {
    lo: f64,
    hi: f64,
}

impl Extent {
    pub(crate) fn new() -> Self {
        Extent {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
    pub(crate) fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
    /// Axis range with a relative `margin` on both sides; a (near) zero-width extent is padded
    /// so the axis never collapses.
    pub(crate) fn to_range(self, margin: f64) -> Range<f64> {
        if self.is_empty() {
            return 0.0..1.0;
        }
        let (lo, hi) = (self.lo, self.hi);
        let scale = lo.abs().max(hi.abs());
        let width = hi - lo;
        let (a, b) = if width <= scale * 1e-9 {
            let mid = lo + width / 2.0;
            let pad = if scale > 0.0 { scale * 0.05 } else { 1.0 };
            (mid - pad, mid + pad)
        } else {
            (lo - width * margin, hi + width * margin)
        };
        if a.is_finite() && b.is_finite() && a < b {
            a..b
        } else if lo < hi {
            // Padding overflowed (values near f64::MAX): use the raw extent.
            lo..hi
        } else {
            lo..lo + 1.0
        }
    }
}

/// x/y extents of the finite data of a panel (points, and band edges at finite x).
fn panel_extents(panel: &Panel) -> (Extent, Extent, bool) {
    let (mut xe, mut ye) = (Extent::new(), Extent::new());
    let mut has_points = false;
    for s in &panel.series {
        for p in s.points.iter().filter(|p| finite_pt(p)) {
            has_points = true;
            xe.add(p.0);
            ye.add(p.1);
        }
        for poly in band_polygons(s) {
            for (x, y) in poly {
                xe.add(x);
                ye.add(y);
            }
        }
    }
    (xe, ye, has_points)
}

/// The grid and axes every panel shares (light grid, grey bold lines, black axes), with the axis
/// descriptions where fonts are available.
fn style_mesh<X: Ranged, Y: Ranged, DB: DrawingBackend>(mesh: &mut MeshStyle<'_, '_, X, Y, DB>, x_label: &str, y_label: &str, text: bool) {
    mesh.max_light_lines(1).light_line_style(RGBColor(238, 238, 238)).bold_line_style(RGBColor(205, 205, 205)).axis_style(BLACK);
    if text {
        mesh.label_style((FONT_FAMILY, 13)).axis_desc_style((FONT_FAMILY, 15));
        if !x_label.is_empty() {
            mesh.x_desc(x_label.to_string());
        }
        if !y_label.is_empty() {
            mesh.y_desc(y_label.to_string());
        }
    }
}

/// Without label areas plotters draws no axis lines: frame the plotting area instead.
fn frame<DB: DrawingBackend>(chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, xr: &Range<f64>, yr: &Range<f64>) -> Result<()> {
    chart
        .draw_series(std::iter::once(Rectangle::new([(xr.start, yr.start), (xr.end, yr.end)], BLACK.stroke_width(1))))
        .map_err(plot_err)?;
    Ok(())
}

/// The series' labels in a box at the upper right.
fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT_FAMILY, 13))
        .background_style(BACKGROUND.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    text: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (xe, ye, has_points) = panel_extents(panel);
    let (xr, yr) = if has_points {
        (xe.to_range(0.02), ye.to_range(0.05))
    } else {
        (0.0..1.0, 0.0..1.0)
    };

    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        let title = match (has_points, panel.title.is_empty()) {
            (true, _) => panel.title.clone(),
            (false, true) => "no data".to_string(),
            (false, false) => format!("{} (no data)", panel.title),
        };
        if !title.is_empty() {
            builder.caption(title, (FONT_FAMILY, 20));
        }
        builder.x_label_area_size(40).y_label_area_size(64);
    }
    let mut chart = builder
        .build_cartesian_2d(xr.clone(), yr.clone())
        .map_err(plot_err)?;

    {
        let mut mesh = chart.configure_mesh();
        style_mesh(&mut mesh, &panel.x_label, &panel.y_label, text);
        mesh.draw().map_err(plot_err)?;
    }
    if !text {
        frame(&mut chart, &xr, &yr)?;
    }

    // Bands first so the lines are drawn on top of every band.
    for (i, s) in panel.series.iter().enumerate() {
        let color = palette_color(i);
        let polys = band_polygons(s);
        if !polys.is_empty() {
            chart
                .draw_series(
                    polys
                        .into_iter()
                        .map(|p| Polygon::new(p, color.mix(0.2).filled())),
                )
                .map_err(plot_err)?;
        }
    }

    let mut any_label = false;
    for (i, s) in panel.series.iter().enumerate() {
        let color = palette_color(i);
        let line_style = color.stroke_width(2);
        for run in finite_runs(&s.points) {
            if run.len() == 1 {
                // An isolated point has no line: mark it.
                chart
                    .draw_series(std::iter::once(Circle::new(run[0], 3, color.filled())))
                    .map_err(plot_err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(run, line_style))
                    .map_err(plot_err)?;
            }
        }
        if text && !s.label.is_empty() {
            any_label = true;
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(plot_err)?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line_style));
        }
    }
    if any_label {
        legend(&mut chart)?;
    }
    Ok(())
}

/// Horizontal offset of a strip's dots (left) and of its mean and interval (right) from its x.
const STRIP_DOTS: f64 = -0.14;
const STRIP_MEAN: f64 = 0.14;

/// Where strip `i`'s k-th of n dots goes: spread over 0.16 left of centre, so equal values stay apart.
fn strip_dot_x(i: usize, k: usize, n: usize) -> f64 {
    let spread = if n > 1 { 0.16 * (k as f64 / (n - 1) as f64 - 0.5) } else { 0.0 };
    i as f64 + STRIP_DOTS + spread
}

/// A strip panel: strip i at x = i, its values as hollow dots, its mean as a filled dot with the
/// interval as a capped vertical bar; the x range extends right of the strips to leave room for the legend.
fn draw_strips<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &StripPanel,
    text: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let n = panel.strips.len();
    let mut ye = Extent::new();
    for s in &panel.strips {
        s.values.iter().for_each(|&v| ye.add(v));
        ye.add(s.mean);
        if let Some((lo, hi)) = s.interval {
            ye.add(lo);
            ye.add(hi);
        }
    }
    let has_points = !ye.is_empty();
    // Legend room: about 7 px per character of the longest label plus the marker, as a share of the panel.
    let longest = panel.strips.iter().map(|s| s.label.chars().count()).max().unwrap_or(0);
    let legend_share = if text && n > 0 { ((longest as f64 * 7.0 + 60.0) / PANEL_WIDTH as f64).min(0.6) } else { 0.0 };
    let x_lo = -0.5;
    let x_hi = (n.max(1) as f64 - 0.5 - x_lo * legend_share) / (1.0 - legend_share);
    let (xr, yr) = (x_lo..x_hi, if has_points { ye.to_range(0.08) } else { 0.0..1.0 });

    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        let title = if has_points { panel.title.clone() } else { format!("{} (no data)", panel.title) };
        builder.caption(title, (FONT_FAMILY, 20));
        builder.x_label_area_size(40).y_label_area_size(64);
    }
    let mut chart = builder.build_cartesian_2d(xr.clone(), yr.clone()).map_err(plot_err)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(0);
        style_mesh(&mut mesh, &panel.x_label, &panel.y_label, text);
        mesh.draw().map_err(plot_err)?;
    }
    if !text {
        frame(&mut chart, &xr, &yr)?;
    }
    for (i, s) in panel.strips.iter().enumerate() {
        let color = palette_color(s.color);
        let vals: Vec<f64> = s.values.iter().copied().filter(|v| v.is_finite()).collect();
        chart
            .draw_series(vals.iter().enumerate().map(|(k, &v)| Circle::new((strip_dot_x(i, k, vals.len()), v), 4, color.stroke_width(2))))
            .map_err(plot_err)?;
        let x = i as f64 + STRIP_MEAN;
        if let Some((lo, hi)) = s.interval.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()) {
            let cap = 0.05;
            let bar = [vec![(x, lo), (x, hi)], vec![(x - cap, lo), (x + cap, lo)], vec![(x - cap, hi), (x + cap, hi)]];
            chart.draw_series(bar.into_iter().map(|p| PathElement::new(p, color.stroke_width(2)))).map_err(plot_err)?;
        }
        if s.mean.is_finite() {
            let ann = chart.draw_series(std::iter::once(Circle::new((x, s.mean), 5, color.filled()))).map_err(plot_err)?;
            if text && !s.label.is_empty() {
                ann.label(s.label.clone()).legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
            }
        }
    }
    if text && panel.strips.iter().any(|s| !s.label.is_empty() && s.mean.is_finite()) {
        legend(&mut chart)?;
    }
    Ok(())
}

/// Encodes an RGB8 buffer as a PNG (with the `image` crate that plotters' bitmap encoder uses).
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    if rgb.len() != w as usize * h as usize * 3 {
        bail!("RGB buffer has {} bytes, expected {}x{}x3", rgb.len(), w, h);
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out).write_image(rgb, w, h, image::ColorType::Rgb8).context("encoding PNG")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.into(),
            points,
            band: None,
        }
    }

    fn panel(title: &str, series: Vec<Series>) -> Panel {
        Panel {
            title: title.into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series,
        }
    }

    fn curve(n: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64, f(i as f64))).collect()
    }

    fn count_color(buf: &[u8], c: RGBColor) -> usize {
        buf.chunks_exact(3)
            .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
            .count()
    }

    fn count_non_background(buf: &[u8]) -> usize {
        buf.chunks_exact(3)
            .filter(|p| p != &[255, 255, 255])
            .count()
    }

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// CRC-32 (IEEE, as used by PNG).
    fn crc32(chunks: &[&[u8]]) -> u32 {
        static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let mut t = [0u32; 256];
            for (n, e) in t.iter_mut().enumerate() {
                let mut c = n as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
                *e = c;
            }
            t
        });
        let mut c = 0xFFFF_FFFFu32;
        for b in chunks.iter().flat_map(|c| c.iter()) {
            c = table[((c ^ *b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        c ^ 0xFFFF_FFFF
    }

    /// Parses chunks (checking every CRC); returns (width, height, concatenated IDAT data).
    fn parse_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        assert!(bytes.len() > 8 + 25, "PNG too short: {} bytes", bytes.len());
        assert_eq!(&bytes[..8], &PNG_SIGNATURE, "bad PNG signature");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut pos = 8;
        let (mut w, mut h, mut idat, mut saw_end) = (0, 0, Vec::new(), false);
        let mut first = true;
        while pos < bytes.len() {
            let len = be(&bytes[pos..]) as usize;
            let kind = &bytes[pos + 4..pos + 8];
            let data = &bytes[pos + 8..pos + 8 + len];
            let crc = be(&bytes[pos + 8 + len..]);
            assert_eq!(crc, crc32(&[kind, data]), "bad CRC in chunk {:?}", kind);
            if first {
                assert_eq!(kind, b"IHDR", "first chunk must be IHDR");
                assert_eq!(len, 13);
                w = be(&data[0..]);
                h = be(&data[4..]);
                assert_eq!(&data[8..13], &[8, 2, 0, 0, 0], "expected 8-bit RGB");
                first = false;
            }
            match kind {
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => saw_end = true,
                _ => {}
            }
            pos += 12 + len;
        }
        assert!(saw_end, "no IEND chunk");
        assert_eq!(pos, bytes.len());
        (w, h, idat)
    }

    /// Checks the chunk structure (our own CRC), then decodes the pixels.
    fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let (w, h, idat) = parse_png(bytes);
        assert!(!idat.is_empty());
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (w, h));
        (w, h, img.into_raw())
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"IEND", b""]), 0xAE42_6082);
    }

    #[test]
    fn writes_png_with_expected_size_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let mut s = series("train", curve(50, |x| (-x / 10.0).exp()));
        s.band = Some(s.points.iter().map(|&(_, y)| (y - 0.1, y + 0.1)).collect());
        let panels = vec![
            panel(
                "loss",
                vec![s, series("val", curve(50, |x| 1.2 * (-x / 12.0).exp()))],
            ),
            panel(
                "accuracy",
                vec![series("train", curve(50, |x| 1.0 - (-x / 10.0).exp()))],
            ),
        ];
        plot_panels(&path, &panels).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let (w, h, rgb) = decode_png(&bytes);
        assert_eq!((w, h), (2 * PANEL_WIDTH, PANEL_HEIGHT));
        // The encoded image is exactly what the renderer produced.
        assert_eq!(rgb, render_to_buffer(&panels, w, h).unwrap());
        assert!(count_color(&rgb, PALETTE[0]) > 100);
        assert!(count_color(&rgb, PALETTE[1]) > 100);
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["curves.png".to_string()]);
    }

    #[test]
    fn overwrites_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        std::fs::write(&path, b"old").unwrap();
        let panels = [panel("x", vec![series("a", curve(5, |x| x))])];
        plot_panels(&path, &panels).unwrap();
        let (w, h, _) = parse_png(&std::fs::read(&path).unwrap());
        assert_eq!((w, h), (PANEL_WIDTH, PANEL_HEIGHT));
    }

    #[test]
    fn single_series_draws_first_palette_color() {
        let panels = [panel("loss", vec![series("train", curve(20, |x| x * x))])];
        let buf = render_to_buffer(&panels, PANEL_WIDTH, PANEL_HEIGHT).unwrap();
        assert_eq!(buf.len(), (PANEL_WIDTH * PANEL_HEIGHT * 3) as usize);
        let red = count_color(&buf, PALETTE[0]);
        assert!(red > 200, "only {red} pixels of the series color");
        // Series colors are distinct, and the second one is not used by a single series.
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(count_color(&buf, PALETTE[1]), 0);
    }

    #[test]
    fn band_is_translucent_fill_in_series_color() {
        let pts = curve(30, |x| x);
        let with_band = Series {
            label: "s".into(),
            band: Some(pts.iter().map(|&(_, y)| (y - 5.0, y + 5.0)).collect()),
            points: pts.clone(),
        };
        let plain = Series {
            band: None,
            ..with_band.clone()
        };
        let a = render_to_buffer(&[panel("b", vec![with_band])], 640, 480).unwrap();
        let b = render_to_buffer(&[panel("b", vec![plain])], 640, 480).unwrap();
        // 20% red over white = (246, 212, 212); allow rounding.
        let tinted = |buf: &[u8]| {
            buf.chunks_exact(3)
                .filter(|p| {
                    (240..=250).contains(&p[0])
                        && (205..=218).contains(&p[1])
                        && (205..=218).contains(&p[2])
                })
                .count()
        };
        assert!(tinted(&a) > 2000, "band fill missing: {}", tinted(&a));
        assert!(tinted(&b) < 50);
    }

    #[test]
    fn empty_panels_do_not_panic() {
        let panels = [
            panel("nothing", vec![]),
            panel("empty series", vec![series("", vec![])]),
            panel(
                "",
                vec![series("", vec![(f64::NAN, 1.0), (2.0, f64::INFINITY)])],
            ),
        ];
        let buf = render_to_buffer(&panels, 3 * PANEL_WIDTH, PANEL_HEIGHT).unwrap();
        // Axes / grid are still drawn; unlabeled series without data leave no trace.
        assert!(count_non_background(&buf) > 1000);
        assert_eq!(count_color(&buf, PALETTE[0]), 0);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        plot_panels(&path, &panels).unwrap();
        let (w, h, _) = parse_png(&std::fs::read(&path).unwrap());
        assert_eq!((w, h), (3 * PANEL_WIDTH, PANEL_HEIGHT));
    }

    #[test]
    fn nan_and_inf_points_are_skipped() {
        let mut pts = curve(40, |x| x.sin());
        pts[3].1 = f64::NAN;
        pts[10].0 = f64::NAN;
        pts[20].1 = f64::INFINITY;
        pts[21].1 = f64::NEG_INFINITY;
        pts.push((f64::NAN, f64::NAN));
        let mut s = series("noisy", pts);
        let mut band: Vec<(f64, f64)> = s.points.iter().map(|&(_, y)| (y - 0.2, y + 0.2)).collect();
        band[5] = (f64::NAN, 1.0);
        s.band = Some(band);
        let panels = [panel("nan", vec![s])];
        let buf = render_to_buffer(&panels, PANEL_WIDTH, PANEL_HEIGHT).unwrap();
        assert!(count_color(&buf, PALETTE[0]) > 100);
        // The y axis range comes from the finite values only.
        let (_, ye, has) = panel_extents(&panels[0]);
        assert!(has);
        assert!(ye.lo >= -1.3 && ye.hi <= 1.3, "{}..{}", ye.lo, ye.hi);

        let dir = tempfile::tempdir().unwrap();
        plot_panels(&dir.path().join("nan.png"), &panels).unwrap();
    }

    #[test]
    fn single_point_and_constant_series_get_padded_axes() {
        let e = |v: &[f64]| {
            let mut x = Extent::new();
            v.iter().for_each(|&v| x.add(v));
            x
        };
        let r = e(&[3.0]).to_range(0.05);
        assert!(r.start < 3.0 && r.end > 3.0);
        let r = e(&[0.0, 0.0]).to_range(0.05);
        assert_eq!(r, -1.0..1.0);
        let r = e(&[1e9, 1e9 + 1e-3]).to_range(0.05);
        assert!(r.end - r.start > 1.0);
        let r = e(&[f64::MAX, -f64::MAX]).to_range(0.05);
        assert!(r.start.is_finite() && r.end.is_finite() && r.start < r.end);
        assert_eq!(e(&[]).to_range(0.05), 0.0..1.0);

        let panels = [
            panel("one point", vec![series("p", vec![(5.0, 2.0)])]),
            panel("flat", vec![series("f", curve(10, |_| 0.5))]),
            panel("huge", vec![series("h", vec![(0.0, -1e300), (1.0, 1e300)])]),
        ];
        let buf = render_to_buffer(&panels, 3 * PANEL_WIDTH, PANEL_HEIGHT).unwrap();
        assert!(count_color(&buf, PALETTE[0]) > 20);
    }

    #[test]
    fn renders_without_text_when_no_font() {
        let panels = [
            panel(
                "t",
                vec![
                    series("a", curve(10, |x| x)),
                    series("b", curve(10, |x| 2.0 * x)),
                ],
            ),
            panel("empty", vec![]),
        ];
        let buf = render(&panels, 2 * PANEL_WIDTH, PANEL_HEIGHT, false).unwrap();
        assert!(count_color(&buf, PALETTE[0]) > 100);
        assert!(count_color(&buf, PALETTE[1]) > 100);
        // Axes frame drawn in black.
        assert!(count_color(&buf, BLACK) > 1000);
    }

    #[test]
    fn text_is_drawn_when_font_available() {
        if !ensure_font() {
            crate::testing::skip("text_is_drawn_when_font_available", "no font on this machine");
            return;
        }
        let p = panel("title", vec![series("legend", curve(10, |x| x))]);
        let with = render(std::slice::from_ref(&p), PANEL_WIDTH, PANEL_HEIGHT, true).unwrap();
        let without = render(&[p], PANEL_WIDTH, PANEL_HEIGHT, false).unwrap();
        assert_ne!(with, without);
    }

    #[test]
    fn rejects_no_panels_and_bad_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(plot_panels(&dir.path().join("x.png"), &[]).is_err());
        let p = [panel("a", vec![series("a", curve(3, |x| x))])];
        assert!(plot_panels(&dir.path().join("missing_dir").join("x.png"), &p).is_err());
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn strips_draw_each_value_and_the_interval_in_their_colour() {
        let strip = |label: &str, values: Vec<f64>, color: usize| {
            let (mean, interval) = crate::track::stats::mean_ci95(&values).unwrap();
            Strip { label: label.into(), values, mean, interval, color }
        };
        let sp = StripPanel {
            title: "test accuracy".into(),
            x_label: String::new(),
            y_label: "accuracy %".into(),
            strips: vec![strip("a", vec![85.0, 86.0, 87.0], 2), strip("b", vec![84.0], 0)],
        };
        let charts = [Chart::Strips(sp.clone())];
        for text in [false, true] {
            let buf = render_charts(&charts, PANEL_WIDTH, PANEL_HEIGHT, text && ensure_font()).unwrap();
            // Strip a in palette colour 2 (dots, bar, mean), b in colour 0; colour 1 unused.
            assert!(count_color(&buf, PALETTE[2]) > 100, "{}", count_color(&buf, PALETTE[2]));
            assert!(count_color(&buf, PALETTE[0]) > 30);
            assert_eq!(count_color(&buf, PALETTE[1]), 0);
        }
        // The interval bar makes strip a taller than its dots alone.
        let dots_only = StripPanel { strips: vec![Strip { interval: None, ..sp.strips[0].clone() }, sp.strips[1].clone()], ..sp.clone() };
        let with = render_charts(&charts, PANEL_WIDTH, PANEL_HEIGHT, false).unwrap();
        let without = render_charts(&[Chart::Strips(dots_only)], PANEL_WIDTH, PANEL_HEIGHT, false).unwrap();
        assert!(count_color(&with, PALETTE[2]) > count_color(&without, PALETTE[2]));
        // Dots of one strip spread left of centre, in order; no strips or NaN values do not panic.
        assert!(strip_dot_x(1, 0, 3) < strip_dot_x(1, 1, 3) && strip_dot_x(1, 2, 3) < 1.0 + STRIP_MEAN);
        assert_eq!(strip_dot_x(0, 0, 1), STRIP_DOTS);
        let odd = StripPanel { strips: vec![Strip { label: "nan".into(), values: vec![f64::NAN], mean: f64::NAN, interval: None, color: 0 }], ..sp.clone() };
        render_charts(&[Chart::Strips(odd), Chart::Strips(StripPanel::default())], 2 * PANEL_WIDTH, PANEL_HEIGHT, ensure_font()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        plot_charts(&dir.path().join("s.png"), &charts).unwrap();
    }
}
