//! PNG plots: line charts with several series, optional log-scaled x axis and shaded bands.
//!
//! The API is what every reproduction suite and `alignrl train` use: build a [`LineChart`], call
//! [`LineChart::to_png`], write the bytes atomically. Non-finite points are skipped.

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
    /// Image size in pixels; `(0, 0)` means the default 800 × 500.
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

struct Canvas {
    w: i64,
    h: i64,
    rgb: Vec<u8>,
}

impl Canvas {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..self.w).contains(&x) && (0..self.h).contains(&y) {
            let i = ((y * self.w + x) * 3) as usize;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            for t in 0..thick {
                self.put(x0, y0 + t - thick / 2, c);
            }
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }
}

impl LineChart {
    /// Renders the chart as PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let (w, h) = if self.size == (0, 0) { (800, 500) } else { self.size };
        let mut cv = Canvas { w: w as i64, h: h as i64, rgb: vec![255; (w * h * 3) as usize] };
        let margin = 40i64;
        let (x0, x1, y0, y1) = (margin, cv.w - margin, cv.h - margin, margin);
        let tx = |x: f64| if self.log_x { if x > 0.0 { x.log10() } else { f64::NAN } } else { x };
        let mut pts = Vec::new();
        for s in &self.series {
            pts.extend(s.points.iter().map(|&(x, y)| (tx(x), y)));
            if let Some(b) = &s.band {
                pts.extend(b.iter().flat_map(|&(x, lo, hi)| [(tx(x), lo), (tx(x), hi)]));
            }
        }
        pts.retain(|(x, y)| x.is_finite() && y.is_finite());
        let fold = |f: fn(&(f64, f64)) -> f64| {
            pts.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
        };
        let (mut xmin, mut xmax) = fold(|p| p.0);
        let (mut ymin, mut ymax) = fold(|p| p.1);
        if !xmin.is_finite() {
            (xmin, xmax, ymin, ymax) = (0.0, 1.0, 0.0, 1.0);
        }
        if xmax - xmin < 1e-12 {
            (xmin, xmax) = (xmin - 0.5, xmax + 0.5);
        }
        if ymax - ymin < 1e-12 {
            (ymin, ymax) = (ymin - 0.5, ymax + 0.5);
        }
        for k in 0..=5 {
            let y = y0 + (y1 - y0) * k / 5;
            cv.line((x0, y), (x1, y), [225, 225, 225], 1);
        }
        cv.line((x0, y0), (x1, y0), [120, 120, 120], 1);
        cv.line((x0, y0), (x0, y1), [120, 120, 120], 1);
        let px = |x: f64, y: f64| {
            let fx = (x - xmin) / (xmax - xmin);
            let fy = (y - ymin) / (ymax - ymin);
            (x0 + (fx * (x1 - x0) as f64).round() as i64, y0 + (fy * (y1 - y0) as f64).round() as i64)
        };
        for (i, s) in self.series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let light = c.map(|v| (v as u16 + 2 * 255).div_euclid(3) as u8);
            if let Some(b) = &s.band {
                for &(x, lo, hi) in b {
                    let x = tx(x);
                    if x.is_finite() && lo.is_finite() && hi.is_finite() {
                        cv.line(px(x, lo), px(x, hi), light, 3);
                    }
                }
            }
            let p: Vec<(i64, i64)> = s
                .points
                .iter()
                .map(|&(x, y)| (tx(x), y))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| px(x, y))
                .collect();
            match p.as_slice() {
                [] => {}
                [q] => {
                    for d in -2..=2 {
                        cv.line((q.0 - 2, q.1 + d), (q.0 + 2, q.1 + d), c, 1);
                    }
                }
                _ => {
                    for wdw in p.windows(2) {
                        cv.line(wdw[0], wdw[1], c, 2);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| PlotError::Draw(e.to_string()))?;
        writer.write_image_data(&cv.rgb).map_err(|e| PlotError::Draw(e.to_string()))?;
        writer.finish().map_err(|e| PlotError::Draw(e.to_string()))?;
        Ok(out)
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
}
