//! The evidence at a glance: a forest plot of LoT's teacher against each baseline, one row per
//! setting (`lot plot-evidence results/summary_rows.json --out results/summary.png`).
//!
//! The rows file is written by `scripts/results_md.py` from each setting's `compare.json`: per
//! setting and baseline mode, the paired difference LoT − baseline of the teacher's headline
//! metric with its 95 % interval, and the baseline's mean. Settings measure different things (test
//! accuracy in points, test perplexity, RL return), so the plot puts every difference on one axis
//! in % of the baseline's mean (of its absolute value), sign-flipped where lower is better: right
//! of zero always means "LoT's teacher better" ([`EvidenceRow::relative`]).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;

use crate::error::input_err;
use crate::track::plot::{encode_png, ensure_font, palette_color, plot_err, Extent, BACKGROUND, FONT_FAMILY};

/// One comparison: LoT's teacher − a baseline's, in one setting.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct EvidenceRow {
    /// The folder under results/, e.g. `fm5k`.
    pub setting: String,
    pub title: String,
    /// The summary field, e.g. `final_test_accuracy`.
    pub metric: String,
    /// The metric's short name for a label, e.g. `test acc %`.
    #[serde(default)]
    pub header: String,
    pub higher_is_better: bool,
    /// The baseline's mode: `teacher_only` or `compute_matched`.
    pub baseline: String,
    /// Mean difference LoT − baseline over seeds, in the metric's units.
    pub mean: f64,
    pub ci95: (f64, f64),
    /// The baseline group's mean of the metric.
    pub baseline_mean: f64,
    /// Pairs (or LoT runs, for Welch's test).
    pub n: usize,
    /// `better`, `worse` or `tie` (the interval contains 0).
    pub verdict: String,
}

impl EvidenceRow {
    /// The mean difference and its interval in % of |baseline mean|, the sign flipped where lower
    /// is better, so that positive means LoT's teacher is better; the interval ordered low, high.
    /// `None` when the baseline's mean is 0 or not finite.
    pub fn relative(&self) -> Option<(f64, (f64, f64))> {
        let scale = self.baseline_mean.abs();
        if !(scale > 0.0 && scale.is_finite()) {
            return None;
        }
        let k = if self.higher_is_better { 100.0 } else { -100.0 } / scale;
        let (a, b) = (k * self.ci95.0, k * self.ci95.1);
        Some((k * self.mean, (a.min(b), a.max(b))))
    }
}

/// Read a rows file (a JSON array of [`EvidenceRow`]); a missing or malformed file is an input error.
pub fn read_rows(path: &Path) -> Result<Vec<EvidenceRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(format!("{}: cannot read: {e}", path.display())))?;
    let rows: Vec<EvidenceRow> = serde_json::from_str(&text).map_err(|e| input_err(format!("{}: not an evidence rows file: {e}", path.display())))?;
    if rows.is_empty() {
        return Err(input_err(format!("{}: no rows", path.display())));
    }
    Ok(rows)
}

/// Legend text and palette colour per baseline mode (others: the next palette colours).
fn baseline_style(mode: &str, index: usize) -> (String, RGBColor) {
    match mode {
        "teacher_only" => ("LoT − teacher-only (α = 0: same steps, no feedback)".into(), palette_color(1)),
        "compute_matched" => ("LoT − compute-matched (teacher alone for LoT's total optimizer steps)".into(), palette_color(3)),
        other => (format!("LoT − {other}"), palette_color(4 + index)),
    }
}

const WIDTH: u32 = 1400;
const HEADER: u32 = 76;
const ROW: u32 = 50;
const LABELS: u32 = 560;
const NUMBERS: u32 = 190;

/// Draw the forest plot of `rows` (settings in order of first appearance, top to bottom) into
/// `out`; returns the number of settings drawn. Rows whose baseline mean cannot scale them are
/// left out (with a warning in the returned list).
pub fn plot_evidence(rows: &[EvidenceRow], out: &Path) -> Result<(usize, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut settings: Vec<&str> = Vec::new();
    let mut baselines: Vec<&str> = Vec::new();
    for r in rows {
        if r.relative().is_none() {
            warnings.push(format!("{} − {}: baseline mean {} cannot scale the difference; left out", r.setting, r.baseline, r.baseline_mean));
            continue;
        }
        if !settings.contains(&r.setting.as_str()) {
            settings.push(&r.setting);
        }
        if !baselines.contains(&r.baseline.as_str()) {
            baselines.push(&r.baseline);
        }
    }
    if settings.is_empty() {
        return Err(input_err("no row to draw"));
    }
    let h = HEADER + 70 + ROW * settings.len() as u32;
    let text = ensure_font();
    let rgb = render(rows, &settings, &baselines, h, text)?;
    crate::fsio::write_atomic(out, &encode_png(&rgb, WIDTH, h)?)?;
    Ok((settings.len(), warnings))
}

fn render(rows: &[EvidenceRow], settings: &[&str], baselines: &[&str], h: u32, text: bool) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; WIDTH as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, h)).into_drawing_area();
        root.fill(&BACKGROUND).map_err(plot_err)?;
        let (header, body) = root.split_vertically(HEADER);
        let ns = settings.len();
        let nb = baselines.len();
        // Row i at y = ns − 1 − i (top first); baseline b offset within the row.
        let offset = |b: usize| if nb > 1 { 0.17 - 0.34 * b as f64 / (nb - 1) as f64 } else { 0.0 };
        let row_y = |setting: &str| (ns - 1 - settings.iter().position(|s| *s == setting).unwrap()) as f64;
        let mut xe = Extent::new();
        xe.add(0.0);
        for r in rows {
            if let Some((m, (lo, hi))) = r.relative() {
                [m, lo, hi].into_iter().for_each(|v| xe.add(v));
            }
        }
        let xr = xe.to_range(0.04);
        let yr = -0.5..ns as f64 - 0.5;

        let mut builder = ChartBuilder::on(&body);
        builder.margin(10).margin_right(0).x_label_area_size(if text { 50 } else { 0 });
        builder.set_label_area_size(LabelAreaPosition::Left, LABELS).set_label_area_size(LabelAreaPosition::Right, NUMBERS);
        let mut chart = builder.build_cartesian_2d(xr.clone(), yr.clone()).map_err(plot_err)?;
        {
            let mut mesh = chart.configure_mesh();
            mesh.disable_y_mesh()
                .y_labels(0)
                .max_light_lines(1)
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(215, 215, 215))
                .axis_style(BLACK);
            if text {
                mesh.label_style((FONT_FAMILY, 14))
                    .axis_desc_style((FONT_FAMILY, 16))
                    .x_label_formatter(&|x| if x.abs() < 1e-9 { "0 %".into() } else { format!("{x:+.0} %") })
                    .x_desc("LoT − baseline, % of baseline (right = LoT better), 95 % CI");
            } else {
                mesh.x_labels(0);
            }
            mesh.draw().map_err(plot_err)?;
        }
        // Row separators and the zero line.
        let grey = RGBColor(200, 200, 200);
        chart
            .draw_series((1..ns).map(|k| PathElement::new(vec![(xr.start, k as f64 - 0.5), (xr.end, k as f64 - 0.5)], grey.stroke_width(1))))
            .map_err(plot_err)?;
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, yr.start), (0.0, yr.end)], BLACK.stroke_width(2)))).map_err(plot_err)?;
        if !text {
            chart.draw_series(std::iter::once(Rectangle::new([(xr.start, yr.start), (xr.end, yr.end)], BLACK.stroke_width(1)))).map_err(plot_err)?;
        }

        // Whiskers and markers: filled where the interval excludes 0, hollow for a tie.
        for r in rows {
            let Some((m, (lo, hi))) = r.relative() else { continue };
            let b = baselines.iter().position(|x| *x == r.baseline).unwrap();
            let (_, color) = baseline_style(&r.baseline, b);
            let y = row_y(&r.setting) + offset(b);
            let cap = 0.07;
            let lines = [vec![(lo, y), (hi, y)], vec![(lo, y - cap), (lo, y + cap)], vec![(hi, y - cap), (hi, y + cap)]];
            chart.draw_series(lines.into_iter().map(|p| PathElement::new(p, color.stroke_width(2)))).map_err(plot_err)?;
            let tie = !(r.ci95.0 > 0.0 || r.ci95.1 < 0.0);
            chart.draw_series(std::iter::once(Circle::new((m, y), 6, BACKGROUND.filled()))).map_err(plot_err)?;
            let style = if tie { color.stroke_width(2) } else { color.filled() };
            chart.draw_series(std::iter::once(Circle::new((m, y), 6, style))).map_err(plot_err)?;
            if text {
                // The numbers at the right, in the marker's colour.
                let (px, py) = chart.backend_coord(&(xr.end, y));
                let s = format!("{m:+.1} % [{lo:+.1}, {hi:+.1}]");
                root.draw(&Text::new(s, (px + 12, py), TextStyle::from((FONT_FAMILY, 14)).color(&color).pos(Pos::new(HPos::Left, VPos::Center))))
                    .map_err(plot_err)?;
            }
        }
        if text {
            // Row labels: the setting's title, then its folder, metric and n.
            for (i, setting) in settings.iter().enumerate() {
                let in_row: Vec<&EvidenceRow> = rows.iter().filter(|r| r.setting == *setting).collect();
                let first = in_row[0];
                let mut ns: Vec<usize> = in_row.iter().map(|r| r.n).collect();
                ns.dedup();
                let n = ns.iter().map(usize::to_string).collect::<Vec<_>>().join("/");
                let (px, py) = chart.backend_coord(&(xr.start, (settings.len() - 1 - i) as f64));
                let right = Pos::new(HPos::Right, VPos::Center);
                root.draw(&Text::new(first.title.clone(), (px - 12, py - 9), TextStyle::from((FONT_FAMILY, 15)).color(&BLACK).pos(right)))
                    .map_err(plot_err)?;
                let what = if first.header.is_empty() { first.metric.clone() } else { first.header.clone() };
                let better = if first.higher_is_better { "higher" } else { "lower" };
                let sub = format!("results/{setting} · {what} ({better} is better) · n = {n} seeds");
                root.draw(&Text::new(sub, (px - 12, py + 10), TextStyle::from((FONT_FAMILY, 13)).color(&RGBColor(110, 110, 110)).pos(right)))
                    .map_err(plot_err)?;
            }
            // Title and legend.
            let title = "LoT's teacher against its baselines, per setting (committed runs in results/, RESULTS.md)";
            header.draw(&Text::new(title, (WIDTH as i32 / 2, 18), TextStyle::from((FONT_FAMILY, 20)).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center))))
                .map_err(plot_err)?;
            let mut x = 40;
            for (b, mode) in baselines.iter().enumerate() {
                let (label, color) = baseline_style(mode, b);
                header.draw(&Circle::new((x, 52), 6, color.filled())).map_err(plot_err)?;
                header.draw(&Text::new(label.clone(), (x + 12, 52), TextStyle::from((FONT_FAMILY, 14)).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center))))
                    .map_err(plot_err)?;
                x += 12 + 7 * label.chars().count() as i32 + 40;
            }
            header.draw(&Circle::new((x, 52), 6, BLACK.stroke_width(2))).map_err(plot_err)?;
            header.draw(&Text::new("hollow: tie (the 95 % interval contains 0)", (x + 12, 52), TextStyle::from((FONT_FAMILY, 14)).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center))))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(setting: &str, higher_is_better: bool, baseline: &str, mean: f64, ci95: (f64, f64), baseline_mean: f64) -> EvidenceRow {
        EvidenceRow {
            setting: setting.into(),
            title: format!("{setting} title"),
            metric: "m".into(),
            header: "m".into(),
            higher_is_better,
            baseline: baseline.into(),
            mean,
            ci95,
            baseline_mean,
            n: 3,
            verdict: "tie".into(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn relative_difference_in_percent_and_sign() {
        // Accuracy (higher is better): +0.76 points over 86.14 = +0.8823 %.
        let (m, (lo, hi)) = row("fm5k", true, "teacher_only", 0.76, (0.49, 1.02), 86.14).relative().unwrap();
        assert!(close(m, 76.0 / 86.14) && close(lo, 49.0 / 86.14) && close(hi, 102.0 / 86.14), "{m} {lo} {hi}");
        // Perplexity (lower is better): −27.15 over 396.19 is a gain, +6.853 %; the interval flips.
        let (m, (lo, hi)) = row("ptb", false, "teacher_only", -27.15, (-31.78, -22.53), 396.19).relative().unwrap();
        assert!(close(m, 2715.0 / 396.19) && close(lo, 2253.0 / 396.19) && close(hi, 3178.0 / 396.19), "{m} {lo} {hi}");
        // A loss in perplexity (+70.15 over 292.04) is left of zero.
        let (m, _) = row("ptb", false, "compute_matched", 70.15, (48.6, 91.71), 292.04).relative().unwrap();
        assert!(close(m, -7015.0 / 292.04));
        // A negative baseline (RL return, higher is better): −0.99 over −84.75 is LoT worse, −1.168 %.
        let (m, (lo, hi)) = row("acrobot", true, "teacher_only", -0.99, (-4.90, 2.92), -84.75).relative().unwrap();
        assert!(close(m, -99.0 / 84.75) && close(lo, -490.0 / 84.75) && close(hi, 292.0 / 84.75), "{m} {lo} {hi}");
        // No scale.
        assert_eq!(row("z", true, "teacher_only", 1.0, (0.0, 2.0), 0.0).relative(), None);
        assert_eq!(row("z", true, "teacher_only", 1.0, (0.0, 2.0), f64::NAN).relative(), None);
    }

    #[test]
    fn reads_rows_and_draws_one_row_per_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.json");
        std::fs::write(
            &path,
            r#"[{"setting": "fm5k", "title": "FM 5k", "metric": "final_test_accuracy", "header": "test acc %", "higher_is_better": true,
                 "baseline": "teacher_only", "mean": 0.76, "ci95": [0.49, 1.02], "baseline_mean": 86.14, "n": 5, "verdict": "better", "p": 0.001},
                {"setting": "fm5k", "title": "FM 5k", "metric": "final_test_accuracy", "higher_is_better": true,
                 "baseline": "compute_matched", "mean": 0.49, "ci95": [0.12, 0.85], "baseline_mean": 86.41, "n": 5, "verdict": "better"},
                {"setting": "z", "title": "zero", "metric": "m", "higher_is_better": true,
                 "baseline": "teacher_only", "mean": 1.0, "ci95": [0.5, 1.5], "baseline_mean": 0.0, "n": 3, "verdict": "better"}]"#,
        )
        .unwrap();
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].header.as_str(), rows[1].header.as_str(), rows[1].ci95), ("test acc %", "", (0.12, 0.85)));
        let png = dir.path().join("summary.png");
        let (n, warnings) = plot_evidence(&rows, &png).unwrap();
        assert_eq!(n, 1);
        assert!(warnings.len() == 1 && warnings[0].contains("z − teacher_only"), "{warnings:?}");
        let img = image::load_from_memory(&std::fs::read(&png).unwrap()).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (WIDTH, HEADER + 70 + ROW));
        // Both baselines' colours are drawn.
        for c in [palette_color(1), palette_color(3)] {
            assert!(img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count() > 50, "{c:?}");
        }
        // Bad input.
        std::fs::write(&path, "{}").unwrap();
        assert!(crate::error::is_input_error(&read_rows(&path).unwrap_err()));
        std::fs::write(&path, "[]").unwrap();
        assert!(read_rows(&path).unwrap_err().to_string().contains("no rows"));
        assert!(crate::error::is_input_error(&read_rows(&dir.path().join("missing.json")).unwrap_err()));
        assert!(crate::error::is_input_error(&plot_evidence(&rows[2..], &png).unwrap_err()));
    }
}
