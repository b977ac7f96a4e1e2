//! PNG plots: line charts with several series, optional log-scaled x axis and shaded bands, and
//! grouped bar charts with optional error bars.
//!
//! The API is what every reproduction suite and `alignrl train` use: build a [`LineChart`] (or a
//! [`BarChart`]), call `to_png`, write the bytes atomically. Non-finite points are skipped (a line
//! is broken where a point is skipped).
//!
//! Every chart has a title (omitted when empty), axis descriptions, numeric tick labels at round
//! values (decades, or 1-2-5 marks, on a log x axis, with minor grid lines), a light grid, and a
//! legend of the non-empty series labels placed where it covers the least data. Text scales with
//! the image size (less than proportionally, so small images stay readable).
//!
//! Drawing uses `plotters`' bitmap backend; text is rendered with DejaVu Sans embedded in this
//! crate (`viz/assets/`, Bitstream Vera licence), so no system font library is needed at build or
//! run time. PNG encoding uses the `png` crate.

use std::ops::Range;
use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::Pos;
use plotters::style::{FontStyle, register_font};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

/// One named curve.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// `(x, y)` points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Optional shaded band `(x, lower, upper)` drawn under the curve (e.g. mean ± std).
    pub band: Option<Vec<(f64, f64, f64)>>,
}

impl Series {
    /// A series without a band.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points, band: None }
    }
}

/// A line chart: title, axis labels, series.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis (with units).
    pub x_label: String,
    /// Label of the y axis (with units).
    pub y_label: String,
    /// Draw x on a log10 scale (all x must then be > 0; others are skipped).
    pub log_x: bool,
    /// The curves.
    pub series: Vec<Series>,
    /// Image size in pixels; `(0, 0)` means the default 800 × 500 ([`DEFAULT_SIZE`]), a single 0
    /// side takes the default's; sides outside [`MIN_SIDE`]`..=`[`MAX_SIDE`] make `to_png` fail.
    pub size: (u32, u32),
}

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The drawing backend failed.
    #[error("plot drawing failed: {0}")]
    Draw(String),
}

/// Tableau-10 colours, cycled over the series.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Default image size in pixels (width, height).
pub const DEFAULT_SIZE: (u32, u32) = (800, 500);
/// Smallest accepted image side in pixels (below it there is no room for axes and text).
pub const MIN_SIDE: u32 = 64;
/// Largest accepted image side in pixels.
pub const MAX_SIDE: u32 = 8192;

/// Font family name under which the embedded DejaVu Sans is registered with `plotters`.
const FAMILY: &str = "sans-serif";
static FONT_TTF: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

const TEXT: RGBColor = RGBColor(20, 20, 20);
const TICK_TEXT: RGBColor = RGBColor(60, 60, 60);
const AXIS: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(222, 222, 222);
const MINOR_GRID: RGBColor = RGBColor(240, 240, 240);
const ERROR_BAR: RGBColor = RGBColor(30, 30, 30);

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The embedded font, parsed once per process, and registered with `plotters` (whose text layout
/// — label areas, legend boxes — measures with it).
fn font() -> Result<&'static FontRef<'static>, PlotError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let f = FontRef::try_from_slice(FONT_TTF).ok()?;
        register_font(FAMILY, FontStyle::Normal, FONT_TTF).ok()?;
        Some(f)
    })
    .as_ref()
    .ok_or_else(|| PlotError::Draw("the embedded DejaVu Sans font could not be parsed".into()))
}

/// `plotters`' bitmap backend with its own text drawing: glyphs placed with their side bearings,
/// kerning and sub-pixel positions (plotters 0.3.7's `ab_glyph` text ignores side bearings, which
/// makes letter spacing uneven), in the same layout box plotters measures (advance widths plus
/// kerning, `size / 1.24` high), baseline so that descenders end at the box's bottom.
struct Canvas<'a> {
    inner: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

type CanvasError<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), CanvasError<'a>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), CanvasError<'a>> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> Result<(), CanvasError<'a>> {
        self.inner.draw_pixel(p, c)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
    ) -> Result<(), CanvasError<'a>> {
        self.inner.draw_line(a, b, s)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
        fill: bool,
    ) -> Result<(), CanvasError<'a>> {
        self.inner.draw_rect(a, b, s, fill)
    }

    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        s: &S,
    ) -> Result<(), CanvasError<'a>> {
        self.inner.draw_path(path, s)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        c: BackendCoord,
        r: u32,
        s: &S,
        fill: bool,
    ) -> Result<(), CanvasError<'a>> {
        self.inner.draw_circle(c, r, s, fill)
    }

    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        s: &S,
    ) -> Result<(), CanvasError<'a>> {
        self.inner.fill_polygon(vert, s)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, dim: (u32, u32), src: &[u8]) -> Result<(), CanvasError<'a>> {
        self.inner.blit_bitmap(pos, dim, src)
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Result<(), CanvasError<'a>> {
        let color = style.color();
        let size = style.size() as f32;
        if color.alpha == 0.0 || !(size.is_finite() && size > 0.0) {
            return Ok(());
        }
        let scale = PxScale::from(size);
        let sf = self.font.as_scaled(scale);
        let height = size / 1.24;
        let baseline = height + sf.descent();
        let mut caret = 0.0f32;
        let mut prev = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for ch in text.chars() {
            let id = sf.glyph_id(ch);
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(scale, point(caret, baseline)));
            caret += sf.h_advance(id);
            prev = Some(id);
        }
        let (width, height) = (caret as i32, height as i32);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let mut result = Ok(());
        for g in glyphs {
            let Some(outline) = self.font.outline_glyph(g) else { continue };
            let b = outline.px_bounds();
            let inner = &mut self.inner;
            outline.draw(|gx, gy, cov| {
                if cov <= 0.0 || result.is_err() {
                    return;
                }
                let (x, y) =
                    trans.transform(b.min.x as i32 + gx as i32 + dx, b.min.y as i32 + gy as i32 + dy);
                let c = BackendColor { alpha: color.alpha * f64::from(cov.min(1.0)), rgb: color.rgb };
                result = inner.draw_pixel((pos.0 + x, pos.1 + y), c);
            });
            result.as_ref().map_err(|_| DrawingErrorKind::FontError("glyph drawing failed".into()))?;
        }
        result
    }
}

fn palette(i: usize) -> RGBColor {
    let [r, g, b] = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Resolves `(0, 0)` (and a 0 in either side) to the default size and rejects unusable sizes.
fn resolve_size(size: (u32, u32)) -> Result<(u32, u32), PlotError> {
    let w = if size.0 == 0 { DEFAULT_SIZE.0 } else { size.0 };
    let h = if size.1 == 0 { DEFAULT_SIZE.1 } else { size.1 };
    if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
        return Err(PlotError::Draw(format!(
            "image size {w}x{h} pixels is outside {MIN_SIDE}..={MAX_SIDE} per side"
        )));
    }
    Ok((w, h))
}

/// Font sizes and spacings (pixels), scaled with the image so that text stays proportionate.
struct Style {
    s: f64,
    title: f64,
    desc: f64,
    tick: f64,
    legend: f64,
}

impl Style {
    fn for_size(w: u32, h: u32) -> Self {
        let s = (w as f64 / DEFAULT_SIZE.0 as f64).min(h as f64 / DEFAULT_SIZE.1 as f64).clamp(0.45, 3.0);
        // Text shrinks and grows slower than the image, so that small plots stay readable.
        let f = s.sqrt().clamp(0.75, 1.8);
        Self { s, title: 22.0 * f, desc: 16.0 * f, tick: 14.0 * f, legend: 14.0 * f }
    }

    fn px(&self, v: f64) -> u32 {
        (v * self.s).round().max(1.0) as u32
    }

    fn text_width(&self, size: f64, text: &str) -> u32 {
        FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
            .box_size(text)
            .map(|(w, _)| w)
            .unwrap_or((text.chars().count() as f64 * size * 0.6) as u32)
    }
}

/// "Nice" tick positions (1, 2, 2.5 or 5 × 10^k apart) covering about `target` intervals of
/// `[lo, hi]`; returns the ticks inside the range and the step.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (vec![lo], 0.0);
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|&st| st >= raw).unwrap_or(10.0 * mag);
    let (k0, k1) = ((lo / step).ceil(), (hi / step).floor());
    if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 1000.0 || step == 0.0 {
        return (vec![lo, hi], span);
    }
    if k1 < k0 {
        return (vec![], step);
    }
    let ticks = (0..=(k1 - k0) as usize)
        .map(|i| (k0 + i as f64) * step)
        .map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v })
        .collect();
    (ticks, step)
}

/// Tick label for a linear axis: as many decimals as the step needs, scientific notation for
/// very large or very small magnitudes.
fn fmt_linear(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().max(step.abs());
    if !(1e-3..1e6).contains(&mag) {
        return fmt_sci(v, step);
    }
    let decimals = if step > 0.0 { (-(step.log10() - 1e-9).floor()).max(0.0) as usize } else { 3 };
    // 2.5 × 10^k steps need one more digit than their exponent says.
    let decimals = if step > 0.0 && (step / 10f64.powi(-(decimals as i32)) - 2.5).abs() < 1e-6 {
        decimals + 1
    } else {
        decimals
    };
    format!("{v:.decimals$}")
}

fn fmt_sci(v: f64, step: f64) -> String {
    let e = v.abs().log10().floor() as i32;
    let m = v / 10f64.powi(e);
    // Mantissa digits enough to tell neighbouring ticks apart.
    let digits = if step > 0.0 { (e as f64 - step.log10()).ceil().clamp(0.0, 6.0) as usize } else { 2 };
    let ms = format!("{m:.digits$}");
    let ms = if ms.contains('.') { ms.trim_end_matches('0').trim_end_matches('.').to_string() } else { ms };
    format!("{ms}e{e}")
}

/// A value `10^lx` written compactly (`0.01`, `100`, `5e6`).
fn fmt_pow10(lx: f64) -> String {
    let v = 10f64.powf(lx);
    let e = lx.floor();
    let m = (v / 10f64.powf(e) * 1e6).round() / 1e6;
    if (-3.0..=5.0).contains(&e) {
        let s = format!("{:.*}", (-e).max(0.0) as usize + if m.fract() != 0.0 { 1 } else { 0 }, v);
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    } else if m == 1.0 {
        format!("1e{e}")
    } else {
        format!("{m}e{e}")
    }
}

/// Ticks for a log10 axis whose range is `[lo, hi]` in log10 units: major ticks (labelled) and
/// minor ticks (light grid lines only), both in log10 units.
fn log_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, Vec<f64>) {
    let (d0, d1) = (lo.ceil(), hi.floor());
    // Number of decade marks (10^k) inside the range.
    let decades = d1 - d0 + 1.0;
    if !(d0.is_finite() && d1.is_finite()) {
        return (vec![lo, hi], vec![]);
    }
    let inside = |v: &f64| *v >= lo - 1e-9 && *v <= hi + 1e-9;
    if decades >= 3.0 {
        let every = (decades / target.max(1) as f64).ceil().max(1.0);
        let mut major = Vec::new();
        let mut k = (d0 / every).ceil() * every;
        while k <= d1 {
            major.push(k);
            k += every;
        }
        let mut minor = Vec::new();
        if every == 1.0 {
            let mut d = lo.floor();
            while d <= hi && minor.len() < 2000 {
                minor.extend((2..10).map(|m| d + (m as f64).log10()).filter(inside));
                d += 1.0;
            }
        } else {
            let mut d = lo.ceil();
            while d <= hi && minor.len() < 2000 {
                if !major.contains(&d) {
                    minor.push(d);
                }
                d += 1.0;
            }
        }
        return (major, minor);
    }
    // Fewer than three decade marks: label 1, 2, 5 × 10^k, and if that is still too few, fall back to
    // nice linear ticks of the value itself.
    let mut major = Vec::new();
    let mut d = lo.floor();
    while d <= hi {
        major.extend([1.0f64, 2.0, 5.0].iter().map(|m| d + m.log10()).filter(inside));
        d += 1.0;
    }
    if major.len() >= 3 {
        let minor = {
            let mut v = Vec::new();
            let mut d = lo.floor();
            while d <= hi {
                v.extend([3.0f64, 4.0, 6.0, 7.0, 8.0, 9.0].iter().map(|m| d + m.log10()).filter(inside));
                d += 1.0;
            }
            v
        };
        return (major, minor);
    }
    let (lin, _) = nice_ticks(10f64.powf(lo), 10f64.powf(hi), target);
    (lin.into_iter().filter(|v| *v > 0.0).map(f64::log10).filter(inside).collect(), vec![])
}

/// Maximal runs of consecutive items that pass `ok`.
fn finite_runs<T: Copy>(items: impl IntoIterator<Item = T>, ok: impl Fn(&T) -> bool) -> Vec<Vec<T>> {
    let mut runs = vec![Vec::new()];
    for it in items {
        if ok(&it) {
            runs.last_mut().expect("runs is never empty").push(it);
        } else if !runs.last().expect("runs is never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// `[lo, hi]` of the finite values, widened when degenerate; `None` when there are none.
fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return None;
    }
    Some(widen(lo, hi))
}

fn widen(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if span.is_finite() && span > 1e-12 * lo.abs().max(hi.abs()).max(1e-300) {
        return (lo, hi);
    }
    if !span.is_finite() {
        // Only ±f64::MAX-like data reach here; halve so that hi − lo stays finite.
        return (lo / 2.0, hi / 2.0);
    }
    let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
    (lo - half, hi + half)
}

/// Pads `[lo, hi]` by `frac` of its span on each side (keeping the span finite).
fn pad(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let p = (hi - lo) * frac;
    if p.is_finite() && (lo - p).is_finite() && (hi + p).is_finite() { (lo - p, hi + p) } else { (lo, hi) }
}

/// Legend box geometry (pixels), as `plotters` lays it out.
struct Legend {
    entries: usize,
    margin: u32,
    sample: u32,
    w: i32,
    h: i32,
}

impl Legend {
    fn new<'l>(st: &Style, sample_px: f64, labels: impl Iterator<Item = &'l str>) -> Self {
        let (margin, sample) = (st.px(10.0), st.px(sample_px));
        let (mut entries, mut text_w) = (0, 0);
        for l in labels.filter(|l| !l.is_empty()) {
            entries += 1;
            text_w = text_w.max(st.text_width(st.legend, l));
        }
        let line = st.legend * 1.25;
        let h = (entries.max(1) - 1) as f64 * line + st.legend / 1.24 + 2.0 * margin as f64;
        Self { entries, margin, sample, w: (text_w + sample + 2 * margin) as i32, h: h.ceil() as i32 }
    }

    /// The standard position whose legend box covers the least weight of `samples` (pixel
    /// positions inside the plotting area of size `area`, with weights); ties go to the corners,
    /// upper right first.
    fn position(&self, samples: &[(f64, f64, f64)], area: (u32, u32)) -> SeriesLabelPosition {
        use SeriesLabelPosition::*;
        let (aw, ah) = (area.0 as i32, area.1 as i32);
        let (left, centre, right) = (5, (aw - self.w) / 2, aw - self.w - 5);
        let (top, middle, bottom) = (5, (ah - self.h) / 2, ah - self.h - 5);
        let candidates = [
            (UpperRight, right, top),
            (UpperLeft, left, top),
            (LowerRight, right, bottom),
            (LowerLeft, left, bottom),
            (MiddleRight, right, middle),
            (MiddleLeft, left, middle),
            (UpperMiddle, centre, top),
            (LowerMiddle, centre, bottom),
            (MiddleMiddle, centre, middle),
        ];
        let pad = 4.0;
        let cost = |x: i32, y: i32| -> f64 {
            let (x0, y0) = (x as f64 - pad, y as f64 - pad);
            let (x1, y1) = (x0 + self.w as f64 + 2.0 * pad, y0 + self.h as f64 + 2.0 * pad);
            samples
                .iter()
                .filter(|(px, py, _)| (x0..=x1).contains(px) && (y0..=y1).contains(py))
                .map(|s| s.2)
                .sum()
        };
        let mut best = (UpperRight, f64::INFINITY);
        for (pos, x, y) in candidates {
            let c = cost(x, y);
            // A candidate must be clearly better to beat an earlier (preferred) one.
            if c < best.1 - 0.5 {
                best = (pos, c);
            }
        }
        best.0
    }
}

/// Points every ~2 pixels along a polyline given in pixels, each with weight `w`.
fn sample_polyline(pts: &[(f64, f64)], w: f64, out: &mut Vec<(f64, f64, f64)>) {
    if let [p] = pts {
        out.push((p.0, p.1, w));
    }
    for seg in pts.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let n = if len.is_finite() { (len / 2.0).ceil().clamp(1.0, 5000.0) as usize } else { 1 };
        out.extend((0..=n).map(|k| {
            let t = k as f64 / n as f64;
            (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1), w)
        }));
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(draw_err)?;
    writer.write_image_data(rgb).map_err(draw_err)?;
    writer.finish().map_err(draw_err)?;
    Ok(out)
}

/// A linear axis over `[lo, hi]` with our own tick positions: `major` ticks get labels and grid
/// lines, `minor` ticks light grid lines only. (plotters' `WithKeyPoints` cannot be given a label
/// formatter for `f64` in 0.3.7.)
struct Axis {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (a, b): (i32, i32)) -> i32 {
        let f = (*v - self.lo) / (self.hi - self.lo);
        if !f.is_finite() {
            return if f.is_nan() {
                a
            } else if f > 0.0 {
                b
            } else {
                a
            };
        }
        // Float-to-int `as` saturates, so far-out values land far outside the image, not wrap.
        a.saturating_add(((b - a) as f64 * f + 1e-3).floor() as i32)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.minor.clone() } else { self.major.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Axis geometry shared by the chart kinds: label-area sizes from the widest tick label.
struct Frame {
    top_margin: u32,
    x_area: u32,
    y_area: u32,
}

impl Frame {
    fn new(st: &Style, title: &str, x_label: &str, y_label: &str, y_tick_labels: &[String]) -> Self {
        let tick_w = y_tick_labels.iter().map(|t| st.text_width(st.tick, t)).max().unwrap_or(0);
        let desc_h = if y_label.is_empty() { 0 } else { (st.desc * 1.3) as u32 };
        let x_desc_h = if x_label.is_empty() { 0 } else { (st.desc * 1.4) as u32 };
        Self {
            top_margin: if title.is_empty() { st.px(14.0) } else { st.px(8.0) },
            x_area: (st.tick * 1.6) as u32 + x_desc_h + st.px(8.0),
            y_area: tick_w + desc_h + st.px(16.0),
        }
    }
}

impl LineChart {
    /// Renders the chart as PNG bytes (RGB, 8 bit). Non-finite points (and, with `log_x`, points
    /// with x ≤ 0) are skipped and break the line; an empty chart is a valid image with axes.
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let font = font()?;
        let (w, h) = resolve_size(self.size)?;
        let st = Style::for_size(w, h);
        let tx = |x: f64| if self.log_x { if x > 0.0 { x.log10() } else { f64::NAN } } else { x };
        let ok = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();

        // Data in plot coordinates (x already log10 when log_x).
        let curves: Vec<Vec<Vec<(f64, f64)>>> =
            self.series.iter().map(|s| finite_runs(s.points.iter().map(|&(x, y)| (tx(x), y)), ok)).collect();
        let bands: Vec<Vec<Vec<(f64, f64, f64)>>> = self
            .series
            .iter()
            .map(|s| {
                s.band.as_deref().map_or_else(Vec::new, |b| {
                    finite_runs(b.iter().map(|&(x, lo, hi)| (tx(x), lo, hi)), |&(x, lo, hi)| {
                        x.is_finite() && lo.is_finite() && hi.is_finite()
                    })
                })
            })
            .collect();
        let all_x = curves
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.0)
            .chain(bands.iter().flatten().flatten().map(|b| b.0));
        let all_y = curves
            .iter()
            .flatten()
            .flatten()
            .map(|p| p.1)
            .chain(bands.iter().flatten().flatten().flat_map(|b| [b.1, b.2]));
        let (xmin, xmax) = finite_range(all_x).unwrap_or((0.0, 1.0));
        let (ymin, ymax) = finite_range(all_y).map(|(lo, hi)| pad(lo, hi, 0.05)).unwrap_or((0.0, 1.0));

        let (yt, ystep) = nice_ticks(ymin, ymax, ((h as f64 / st.s) / 70.0).round().max(2.0) as usize);
        let y_labels: Vec<String> = yt.iter().map(|&v| fmt_linear(v, ystep)).collect();
        let frame = Frame::new(&st, &self.title, &self.x_label, &self.y_label, &y_labels);
        let x_target = ((w.saturating_sub(frame.y_area) as f64 / st.s) / 110.0).round().max(2.0) as usize;
        let (xt, xminor, xstep) = if self.log_x {
            let (major, minor) = log_ticks(xmin, xmax, x_target);
            (major, minor, 0.0)
        } else {
            let (t, step) = nice_ticks(xmin, xmax, x_target);
            (t, vec![], step)
        };

        let mut rgb = vec![255u8; (w * h * 3) as usize];
        {
            let root =
                Canvas { inner: BitMapBackend::with_buffer(&mut rgb, (w, h)), font }.into_drawing_area();
            root.fill(&WHITE).map_err(draw_err)?;
            let mut builder = ChartBuilder::on(&root);
            builder
                .margin_top(frame.top_margin)
                .margin_right(st.px(24.0))
                .margin_left(st.px(8.0))
                .margin_bottom(st.px(6.0))
                .x_label_area_size(frame.x_area)
                .y_label_area_size(frame.y_area);
            if !self.title.is_empty() {
                builder.caption(&self.title, (FAMILY, st.title).into_font().color(&TEXT));
            }
            let mut chart = builder
                .build_cartesian_2d(
                    Axis { lo: xmin, hi: xmax, major: xt, minor: xminor },
                    Axis { lo: ymin, hi: ymax, major: yt, minor: vec![] },
                )
                .map_err(draw_err)?;

            let log_x = self.log_x;
            let x_fmt = move |v: &f64| if log_x { fmt_pow10(*v) } else { fmt_linear(*v, xstep) };
            let y_fmt = move |v: &f64| fmt_linear(*v, ystep);
            chart
                .configure_mesh()
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .label_style((FAMILY, st.tick).into_font().color(&TICK_TEXT))
                .axis_desc_style((FAMILY, st.desc).into_font().color(&TEXT))
                .bold_line_style(GRID.stroke_width(1))
                .light_line_style(MINOR_GRID.stroke_width(1))
                .axis_style(AXIS.stroke_width(1))
                .set_all_tick_mark_size(st.px(4.0))
                .draw()
                .map_err(draw_err)?;

            // Bands first, so that every curve lies on top of every band.
            for (i, runs) in bands.iter().enumerate() {
                let fill = palette(i).mix(0.22).filled();
                for run in runs {
                    let poly: Vec<(f64, f64)> =
                        run.iter().map(|b| (b.0, b.2)).chain(run.iter().rev().map(|b| (b.0, b.1))).collect();
                    chart.draw_series(std::iter::once(Polygon::new(poly, fill))).map_err(draw_err)?;
                }
            }
            let stroke = st.px(2.0).max(2);
            let legend = Legend::new(&st, 30.0, self.series.iter().map(|s| s.label.as_str()));
            for (i, (s, runs)) in self.series.iter().zip(&curves).enumerate() {
                let style = palette(i).stroke_width(stroke);
                let dot = palette(i).filled();
                let radius = st.px(3.0) as i32;
                let elems = runs.iter().map(|run| -> DynElement<'static, _, (f64, f64)> {
                    if run.len() == 1 {
                        Circle::new(run[0], radius, dot).into_dyn()
                    } else {
                        PathElement::new(run.clone(), style).into_dyn()
                    }
                });
                let anno = chart.draw_series(elems).map_err(draw_err)?;
                if !s.label.is_empty() {
                    let len = st.px(22.0) as i32;
                    anno.label(s.label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + len, y)], style));
                }
            }
            if legend.entries > 0 {
                let area = chart.plotting_area().dim_in_pixel();
                let to_px = |x: f64, y: f64| {
                    (
                        (x - xmin) / (xmax - xmin) * area.0 as f64,
                        (1.0 - (y - ymin) / (ymax - ymin)) * area.1 as f64,
                    )
                };
                let mut samples = Vec::new();
                for run in curves.iter().flatten() {
                    let px: Vec<(f64, f64)> = run.iter().map(|&(x, y)| to_px(x, y)).collect();
                    sample_polyline(&px, 1.0, &mut samples);
                }
                for run in bands.iter().flatten() {
                    for edge in [
                        run.iter().map(|b| to_px(b.0, b.1)).collect::<Vec<_>>(),
                        run.iter().map(|b| to_px(b.0, b.2)).collect(),
                    ] {
                        sample_polyline(&edge, 0.3, &mut samples);
                    }
                }
                chart
                    .configure_series_labels()
                    .position(legend.position(&samples, area))
                    .margin(legend.margin)
                    .legend_area_size(legend.sample)
                    .label_font((FAMILY, st.legend).into_font().color(&TEXT))
                    .background_style(WHITE.mix(0.88))
                    .border_style(RGBColor(190, 190, 190))
                    .draw()
                    .map_err(draw_err)?;
            }
            root.present().map_err(draw_err)?;
        }
        encode_png(&rgb, w, h)
    }
}

/// Learning curve of one training run: `(environment steps, mean episode return)` points as a
/// single blue line with labelled axes and no legend (its series label is empty: set it when
/// adding more series). Adjust fields (`size`, `series`, ...) as needed.
pub fn learning_curve(points: &[(f64, f64)], title: impl Into<String>) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "environment steps".into(),
        y_label: "mean episode return".into(),
        log_x: false,
        series: vec![Series::new("", points.to_vec())],
        size: (0, 0),
    }
}

/// One group member of a [`BarChart`]: a value per category, with optional error bars.
#[derive(Debug, Clone, Default)]
pub struct BarSeries {
    /// Legend entry (e.g. the method).
    pub label: String,
    /// One value per category, in the chart's category order; a missing or non-finite value draws
    /// no bar.
    pub values: Vec<f64>,
    /// Optional error-bar half-widths, same units as `values` (e.g. std over seeds or a CI
    /// half-width): the bar shows `value ± error`. Missing, negative or non-finite entries draw no
    /// error bar.
    pub errors: Option<Vec<f64>>,
}

impl BarSeries {
    /// A series without error bars.
    pub fn new(label: impl Into<String>, values: Vec<f64>) -> Self {
        Self { label: label.into(), values, errors: None }
    }

    /// Adds error-bar half-widths (one per category).
    pub fn with_errors(mut self, errors: Vec<f64>) -> Self {
        self.errors = Some(errors);
        self
    }
}

/// A grouped bar chart: for each category (x axis) one bar per series, bars start at 0.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the category axis.
    pub x_label: String,
    /// Label of the value axis (with units).
    pub y_label: String,
    /// Category names, left to right.
    pub categories: Vec<String>,
    /// The bar groups' members, drawn left to right within each category, coloured by [`PALETTE`].
    pub series: Vec<BarSeries>,
    /// Image size in pixels; `(0, 0)` means the default 800 × 500 ([`DEFAULT_SIZE`]), a single 0
    /// side takes the default's; sides outside [`MIN_SIDE`]`..=`[`MAX_SIDE`] make `to_png` fail.
    pub size: (u32, u32),
    /// Write each bar's value (3 significant digits) above it (below it when negative), where
    /// the text fits the bar's width.
    pub value_labels: bool,
}

/// `text` if it is at most `max` wide (by `width`), else its longest prefix plus `…` that is,
/// else the empty string.
fn fit_text(text: &str, max: f64, width: impl Fn(&str) -> f64) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    for &end in ends.iter().rev() {
        let t = format!("{}…", text[..end].trim_end());
        if width(&t) <= max {
            return t;
        }
    }
    String::new()
}

/// `v` with 3 significant digits, trailing zeros trimmed (`480`, `-4.5`, `0.0123`, `1.23e6`).
fn fmt_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let e = v.abs().log10().floor();
    if !(-3.0..6.0).contains(&e) {
        return fmt_sci(v, 10f64.powf(e - 2.0));
    }
    let s = format!("{v:.*}", (2.0 - e).max(0.0) as usize);
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

impl BarChart {
    /// Renders the chart as PNG bytes (RGB, 8 bit). Non-finite values draw no bar; with no
    /// categories the image holds only the axes (and title).
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let font = font()?;
        let (w, h) = resolve_size(self.size)?;
        let st = Style::for_size(w, h);
        let n = self.categories.len();
        let m = self.series.len().max(1);
        let value = |s: &BarSeries, c: usize| s.values.get(c).copied().filter(|v| v.is_finite());
        let error = |s: &BarSeries, c: usize| {
            s.errors.as_ref().and_then(|e| e.get(c).copied()).filter(|e| e.is_finite() && *e >= 0.0)
        };
        let mut ys = vec![0.0];
        for s in &self.series {
            for c in 0..n {
                if let Some(v) = value(s, c) {
                    let e = error(s, c).unwrap_or(0.0);
                    ys.extend([v - e, v + e]);
                }
            }
        }
        let (lo, hi) = finite_range(ys).unwrap_or((0.0, 1.0));
        // Value labels need room above (below) the tallest (lowest) bar.
        let (plo, phi) = pad(lo, hi, if self.value_labels { 0.12 } else { 0.06 });
        // Bars start at 0: no padding below a zero baseline.
        let (ymin, ymax) = (if lo >= 0.0 { 0.0 } else { plo }, if hi <= 0.0 { 0.0 } else { phi });
        let (ymin, ymax) = widen(ymin, ymax);

        let (yt, ystep) = nice_ticks(ymin, ymax, ((h as f64 / st.s) / 70.0).round().max(2.0) as usize);
        let y_labels: Vec<String> = yt.iter().map(|&v| fmt_linear(v, ystep)).collect();
        let frame = Frame::new(&st, &self.title, &self.x_label, &self.y_label, &y_labels);
        let xmax = n.max(1) as f64;
        let slot_px = (w.saturating_sub(frame.y_area + st.px(32.0))) as f64 / xmax;
        // Category names that do not fit their slot keep their longest prefix that fits with an
        // ellipsis (none at all when not even that fits).
        let cats: Vec<String> = self
            .categories
            .iter()
            .map(|c| fit_text(c, slot_px * 0.95, |t| st.text_width(st.tick, t) as f64))
            .collect();

        let mut rgb = vec![255u8; (w * h * 3) as usize];
        {
            let root =
                Canvas { inner: BitMapBackend::with_buffer(&mut rgb, (w, h)), font }.into_drawing_area();
            root.fill(&WHITE).map_err(draw_err)?;
            let mut builder = ChartBuilder::on(&root);
            builder
                .margin_top(frame.top_margin)
                .margin_right(st.px(24.0))
                .margin_left(st.px(8.0))
                .margin_bottom(st.px(6.0))
                .x_label_area_size(frame.x_area)
                .y_label_area_size(frame.y_area);
            if !self.title.is_empty() {
                builder.caption(&self.title, (FAMILY, st.title).into_font().color(&TEXT));
            }
            let centres: Vec<f64> = (0..n).map(|c| c as f64 + 0.5).collect();
            let mut chart = builder
                .build_cartesian_2d(
                    Axis { lo: 0.0, hi: xmax, major: centres, minor: vec![] },
                    Axis { lo: ymin, hi: ymax, major: yt, minor: vec![] },
                )
                .map_err(draw_err)?;
            let x_fmt = |v: &f64| {
                let i = (*v - 0.5).round();
                if i >= 0.0 { cats.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
            };
            let y_fmt = move |v: &f64| fmt_linear(*v, ystep);
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .label_style((FAMILY, st.tick).into_font().color(&TICK_TEXT))
                .axis_desc_style((FAMILY, st.desc).into_font().color(&TEXT))
                .bold_line_style(GRID.stroke_width(1))
                .axis_style(AXIS.stroke_width(1))
                .set_all_tick_mark_size(st.px(4.0))
                .draw()
                .map_err(draw_err)?;
            if ymin < 0.0 {
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (xmax, 0.0)], AXIS)))
                    .map_err(draw_err)?;
            }

            let group = 0.8;
            let bw = group / m as f64;
            let cap = bw * 0.18;
            let err_style = ERROR_BAR.stroke_width(st.px(1.5).max(1));
            let legend = Legend::new(&st, 24.0, self.series.iter().map(|s| s.label.as_str()));
            for (j, s) in self.series.iter().enumerate() {
                let fill = palette(j).filled();
                let bars = (0..n).filter_map(|c| {
                    let v = value(s, c)?;
                    let x0 = c as f64 + (1.0 - group) / 2.0 + j as f64 * bw;
                    // A hair of white between neighbouring bars.
                    Some(Rectangle::new([(x0 + bw * 0.04, 0.0), (x0 + bw * 0.96, v)], fill))
                });
                let anno = chart.draw_series(bars).map_err(draw_err)?;
                if !s.label.is_empty() {
                    let sz = st.px(6.0) as i32;
                    anno.label(s.label.as_str())
                        .legend(move |(x, y)| Rectangle::new([(x, y - sz), (x + 2 * sz + 4, y + sz)], fill));
                }
                let whiskers = (0..n).filter_map(|c| {
                    let (v, e) = (value(s, c)?, error(s, c)?);
                    let xc = c as f64 + (1.0 - group) / 2.0 + (j as f64 + 0.5) * bw;
                    Some([
                        PathElement::new(vec![(xc, v - e), (xc, v + e)], err_style),
                        PathElement::new(vec![(xc - cap, v - e), (xc + cap, v - e)], err_style),
                        PathElement::new(vec![(xc - cap, v + e), (xc + cap, v + e)], err_style),
                    ])
                });
                chart.draw_series(whiskers.flatten()).map_err(draw_err)?;
            }
            let label_size = st.tick * 0.85;
            let bar_px = bw * slot_px;
            let show_label = |v: f64| -> Option<String> {
                let t = fmt_sig(v);
                (self.value_labels && st.text_width(label_size, &t) as f64 <= bar_px * 1.05).then_some(t)
            };
            if self.value_labels {
                let gap = st.px(3.0) as i32;
                let up = (FAMILY, label_size)
                    .into_font()
                    .color(&TICK_TEXT)
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                let down =
                    (FAMILY, label_size).into_font().color(&TICK_TEXT).pos(Pos::new(HPos::Center, VPos::Top));
                for (j, s) in self.series.iter().enumerate() {
                    let labels = (0..n).filter_map(|c| {
                        let v = value(s, c)?;
                        let t = show_label(v)?;
                        let end = v + error(s, c).unwrap_or(0.0).copysign(v);
                        let xc = c as f64 + (1.0 - group) / 2.0 + (j as f64 + 0.5) * bw;
                        Some(if v >= 0.0 {
                            EmptyElement::at((xc, end)) + Text::new(t, (0, -gap), up.clone())
                        } else {
                            EmptyElement::at((xc, end)) + Text::new(t, (0, gap), down.clone())
                        })
                    });
                    chart.draw_series(labels).map_err(draw_err)?;
                }
            }
            if legend.entries > 0 {
                // Bars (with their error bars) as filled columns of samples.
                let area = chart.plotting_area().dim_in_pixel();
                let to_px = |x: f64, y: f64| {
                    (x / xmax * area.0 as f64, (1.0 - (y - ymin) / (ymax - ymin)) * area.1 as f64)
                };
                let label_h = (label_size + 4.0 * st.s) / area.1.max(1) as f64 * (ymax - ymin);
                let mut samples = Vec::new();
                for (j, s) in self.series.iter().enumerate() {
                    for c in 0..n {
                        let Some(v) = value(s, c) else { continue };
                        let mut top = v + error(s, c).unwrap_or(0.0).copysign(v);
                        if show_label(v).is_some() {
                            top += label_h.copysign(v);
                        }
                        let x0 = c as f64 + (1.0 - group) / 2.0 + j as f64 * bw;
                        for k in 0..=4 {
                            let x = x0 + bw * k as f64 / 4.0;
                            sample_polyline(&[to_px(x, 0.0), to_px(x, top)], 1.0, &mut samples);
                        }
                    }
                }
                chart
                    .configure_series_labels()
                    .position(legend.position(&samples, area))
                    .margin(legend.margin)
                    .legend_area_size(legend.sample)
                    .label_font((FAMILY, st.legend).into_font().color(&TEXT))
                    .background_style(WHITE.mix(0.88))
                    .border_style(RGBColor(190, 190, 190))
                    .draw()
                    .map_err(draw_err)?;
            }
            root.present().map_err(draw_err)?;
        }
        encode_png(&rgb, w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_each_series_in_its_colour() {
        let chart = LineChart {
            title: "t".into(),
            log_x: true,
            series: vec![
                Series::new("a", vec![(10.0, 1.0), (100.0, 2.0), (1000.0, f64::NAN)]),
                Series::new("b", vec![(10.0, 2.0), (1000.0, 0.5)]),
            ],
            ..Default::default()
        };
        let bytes = chart.to_png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert!(buf.chunks(3).any(|p| p == PALETTE[0]));
        assert!(buf.chunks(3).any(|p| p == PALETTE[1]));
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn nice_ticks_are_round_numbers_inside_the_range() {
        let (t, step) = nice_ticks(0.0, 1.0, 5);
        assert!(close(&t, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), "{t:?}");
        assert_eq!(step, 0.2);
        let (t, step) = nice_ticks(-3.7, 12.2, 4);
        assert!(close(&t, &[-0.0, 5.0, 10.0]) || close(&t, &[0.0, 5.0, 10.0]), "{t:?}");
        assert_eq!(step, 5.0);
        let (t, _) = nice_ticks(0.0, 1.0e6, 4);
        assert!(close(&t, &[0.0, 250_000.0, 500_000.0, 750_000.0, 1.0e6]), "{t:?}");
        // Degenerate or non-finite spans give a single tick instead of looping forever.
        assert_eq!(nice_ticks(1.0, 1.0, 5).0, vec![1.0]);
        assert_eq!(nice_ticks(-f64::MAX, f64::MAX, 5).0.len(), 1);
    }

    #[test]
    fn tick_labels_have_the_digits_the_step_needs() {
        assert_eq!(fmt_linear(0.6000000000000001, 0.2), "0.6");
        assert_eq!(fmt_linear(12.5, 2.5), "12.5");
        assert_eq!(fmt_linear(0.25, 0.25), "0.25");
        assert_eq!(fmt_linear(250.0, 50.0), "250");
        assert_eq!(fmt_linear(0.0, 0.2), "0");
        assert_eq!(fmt_linear(2.5e6, 5e5), "2.5e6");
        assert_eq!(fmt_linear(3e-5, 1e-5), "3e-5");
        assert_eq!(fmt_sig(480.0), "480");
        assert_eq!(fmt_sig(-4.5), "-4.5");
        assert_eq!(fmt_sig(0.012345), "0.0123");
        assert_eq!(fmt_sig(0.95), "0.95");
        assert_eq!(fmt_sig(1234567.0), "1.23e6");
        assert_eq!(fmt_sig(99.96), "100");
        assert_eq!(fmt_pow10(2.0), "100");
        assert_eq!(fmt_pow10(-2.0), "0.01");
        assert_eq!(fmt_pow10(7.0), "1e7");
        assert_eq!(fmt_pow10(5f64.log10()), "5");
        assert_eq!(fmt_pow10(-1.0 + 2f64.log10()), "0.2");
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        let (major, minor) = log_ticks(1.0, 4.0, 6);
        assert!(close(&major, &[1.0, 2.0, 3.0, 4.0]), "{major:?}");
        assert_eq!(minor.len(), 3 * 8);
        // 13 decade marks with room for ~4 labels: every fourth decade labelled, the rest minor.
        let (major, minor) = log_ticks(0.0, 12.0, 4);
        assert!(close(&major, &[0.0, 4.0, 8.0, 12.0]), "{major:?}");
        assert_eq!(minor.len(), 9);
        // Within one decade: 1, 2, 5 marks.
        let (major, _) = log_ticks(0.0, 1.0, 6);
        let vals: Vec<f64> = major.iter().map(|v| 10f64.powf(*v)).collect();
        assert!(close(&vals, &[1.0, 2.0, 5.0, 10.0]), "{vals:?}");
        // Within a factor of 1.5: linear ticks of the value.
        let (major, _) = log_ticks(2f64.log10(), 3f64.log10(), 5);
        let vals: Vec<f64> = major.iter().map(|v| 10f64.powf(*v)).collect();
        assert!(vals.len() >= 3 && vals.iter().all(|v| (2.0..=3.0).contains(v)), "{vals:?}");
    }

    #[test]
    fn long_text_is_shortened_to_fit() {
        let w = |t: &str| t.chars().count() as f64;
        assert_eq!(fit_text("CartPole", 8.0, w), "CartPole");
        assert_eq!(fit_text("CartPole-v1", 8.0, w), "CartPol…");
        assert_eq!(fit_text("ab cd", 4.0, w), "ab…");
        assert_eq!(fit_text("abc", 0.5, w), "");
        assert_eq!(fit_text("äöü-x", 3.0, w), "äö…");
    }

    #[test]
    fn runs_break_at_rejected_items() {
        let r = finite_runs([1.0, f64::NAN, 2.0, 3.0, f64::INFINITY, f64::NAN], |v: &f64| v.is_finite());
        assert_eq!(r, vec![vec![1.0], vec![2.0, 3.0]]);
        assert!(finite_runs([f64::NAN], |v: &f64| v.is_finite()).is_empty());
    }

    #[test]
    fn legend_avoids_the_data() {
        let st = Style::for_size(800, 500);
        let legend = Legend::new(&st, 30.0, ["PPO", "SAC", ""].into_iter());
        assert_eq!(legend.entries, 2);
        assert!(legend.w > 40 && legend.h > 20, "{} {}", legend.w, legend.h);
        let area = (700, 400);
        let curve = |f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64, f64)> {
            let px: Vec<(f64, f64)> =
                (0..=50).map(|i| i as f64 / 50.0).map(|t| (t * 700.0, (1.0 - f(t)) * 400.0)).collect();
            let mut out = Vec::new();
            sample_polyline(&px, 1.0, &mut out);
            out
        };
        // Rising curve: the upper right is occupied, the upper left is free.
        let rising = curve(&|t| t.sqrt());
        assert!(matches!(legend.position(&rising, area), SeriesLabelPosition::UpperLeft));
        // Falling curve: upper right free.
        let falling = curve(&|t| 1.0 - t.sqrt());
        assert!(matches!(legend.position(&falling, area), SeriesLabelPosition::UpperRight));
        // A flat line along the bottom plus a rising one through the upper corners and the lower
        // left: only the middle right stays free.
        let mut busy = curve(&|_| 0.03);
        busy.extend(curve(&|t| (0.2 + 3.0 * t).min(0.97)));
        busy.extend(curve(&|_| 0.97));
        assert!(matches!(legend.position(&busy, area), SeriesLabelPosition::MiddleRight));
        // Two samples spaced 2 px or less apart along a long segment.
        let mut seg = Vec::new();
        sample_polyline(&[(0.0, 0.0), (100.0, 0.0)], 1.0, &mut seg);
        assert_eq!(seg.len(), 51);
    }
}
