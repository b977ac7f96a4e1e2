//! A minimal learning-curve PNG, drawn pixel by pixel with the `png` crate (no font or system
//! library needed at build or run time).
//!
//! The image has no text: a white background, a light grey frame, grey horizontal grid lines at
//! the y-axis ticks (5 equal divisions between the min and max return, which `summary.json` and
//! `metrics.csv` give in numbers), and the mean episode return per update as a blue polyline over
//! environment steps (x from 0 to the last step).

/// Image size in pixels.
pub const WIDTH: u32 = 640;
/// Image size in pixels.
pub const HEIGHT: u32 = 400;
const MARGIN: i64 = 30;

struct Canvas {
    w: i64,
    h: i64,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        Self { w: w as i64, h: h as i64, rgb: vec![255; (w * h * 3) as usize] }
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..self.w).contains(&x) && (0..self.h).contains(&y) {
            let i = ((y * self.w + x) * 3) as usize;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A line from `(x0, y0)` to `(x1, y1)` (Bresenham), `thick` pixels wide vertically.
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

/// Renders `(step, mean return)` points as a PNG (bytes). Non-finite points are skipped.
pub fn learning_curve_png(points: &[(f64, f64)]) -> Vec<u8> {
    let mut cv = Canvas::new(WIDTH, HEIGHT);
    let (x0, x1, y0, y1) = (MARGIN, cv.w - MARGIN, cv.h - MARGIN, MARGIN);
    let pts: Vec<(f64, f64)> =
        points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let xmax = pts.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let (mut ymin, mut ymax) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if !ymin.is_finite() {
        (ymin, ymax) = (0.0, 1.0);
    }
    if ymax - ymin < 1e-9 {
        (ymin, ymax) = (ymin - 0.5, ymax + 0.5);
    }
    let grid = [225, 225, 225];
    for k in 0..=5 {
        let y = y0 + (y1 - y0) * k / 5;
        cv.line((x0, y), (x1, y), grid, 1);
    }
    let frame = [120, 120, 120];
    cv.line((x0, y0), (x1, y0), frame, 1);
    cv.line((x0, y0), (x0, y1), frame, 1);
    let px = |(x, y): (f64, f64)| {
        let fx = x / xmax;
        let fy = (y - ymin) / (ymax - ymin);
        (x0 + (fx * (x1 - x0) as f64).round() as i64, y0 + (fy * (y1 - y0) as f64).round() as i64)
    };
    let blue = [31, 119, 180];
    match pts.as_slice() {
        [] => {}
        [p] => {
            let (x, y) = px(*p);
            for d in -2..=2 {
                cv.line((x - 2, y + d), (x + 2, y + d), blue, 1);
            }
        }
        _ => {
            for w in pts.windows(2) {
                cv.line(px(w[0]), px(w[1]), blue, 2);
            }
        }
    }
    encode(&cv)
}

fn encode(cv: &Canvas) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, cv.w as u32, cv.h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().expect("PNG header into memory");
    writer.write_image_data(&cv.rgb).expect("PNG data into memory");
    writer.finish().expect("PNG end into memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_signature_and_draws_the_curve() {
        let bytes = learning_curve_png(&[(512.0, 10.0), (1024.0, 20.0), (1536.0, f64::NAN), (2048.0, 40.0)]);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert!(buf.chunks(3).any(|p| p == [31, 119, 180]), "the curve is drawn");
        // Empty input still gives a valid image.
        assert_eq!(&learning_curve_png(&[])[..4], b"\x89PNG");
    }
}
