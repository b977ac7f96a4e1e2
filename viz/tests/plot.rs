//! PNG plots through the public API: decoding, size, colours, text, degenerate input.

use alignrl_viz::plot::{BarChart, BarSeries, LineChart, PALETTE, Series, learning_curve};

struct Img {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Img {
    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels in the rectangle `[x0, x1) × [y0, y1)` that are not white.
    fn ink(&self, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| self.px(x, y) != [255; 3])
            .count()
    }

    /// Dark pixels (text, axes, error bars) in the rectangle.
    fn dark(&self, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| self.px(x, y).iter().all(|&c| c < 110))
            .count()
    }

    fn has(&self, c: [u8; 3]) -> bool {
        self.rgb.chunks(3).any(|p| p == c)
    }

    fn count(&self, c: [u8; 3]) -> usize {
        self.rgb.chunks(3).filter(|p| *p == c).count()
    }
}

fn decode(bytes: &[u8]) -> Img {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Img { w: info.width as usize, h: info.height as usize, rgb: buf }
}

fn two_curves() -> LineChart {
    LineChart {
        title: "Return vs steps".into(),
        x_label: "environment steps".into(),
        y_label: "mean episode return".into(),
        log_x: false,
        series: vec![
            Series::new("PPO", (0..50).map(|i| (i as f64 * 1000.0, (i as f64).sqrt())).collect()),
            Series::new("SAC", (0..50).map(|i| (i as f64 * 1000.0, 0.1 * i as f64)).collect()),
        ],
        size: (0, 0),
    }
}

#[test]
fn default_and_requested_sizes() {
    let img = decode(&two_curves().to_png().unwrap());
    assert_eq!((img.w, img.h), (800, 500));
    let chart = LineChart { size: (640, 360), ..two_curves() };
    let img = decode(&chart.to_png().unwrap());
    assert_eq!((img.w, img.h), (640, 360));
    let bars = BarChart { size: (300, 200), ..Default::default() };
    let img = decode(&bars.to_png().unwrap());
    assert_eq!((img.w, img.h), (300, 200));
}

#[test]
fn unusable_sizes_are_errors_not_panics() {
    for size in [(10, 10), (800, 20), (100_000, 100)] {
        assert!(LineChart { size, ..two_curves() }.to_png().is_err(), "{size:?}");
        assert!(BarChart { size, ..Default::default() }.to_png().is_err(), "{size:?}");
    }
    // The smallest accepted size still renders.
    let img = decode(&LineChart { size: (64, 64), ..two_curves() }.to_png().unwrap());
    assert_eq!((img.w, img.h), (64, 64));
}

#[test]
fn each_series_has_its_palette_colour() {
    let img = decode(&two_curves().to_png().unwrap());
    assert!(img.count(PALETTE[0]) > 200, "{}", img.count(PALETTE[0]));
    assert!(img.count(PALETTE[1]) > 200, "{}", img.count(PALETTE[1]));
    assert!(!img.has(PALETTE[2]));
}

#[test]
fn title_is_drawn_in_the_top_band() {
    let with = decode(&two_curves().to_png().unwrap());
    let without = decode(&LineChart { title: String::new(), ..two_curves() }.to_png().unwrap());
    // Middle half of the top 30 rows: the title's glyphs (the plot area starts lower).
    let band = ((200, 600), (0, 30));
    assert!(with.dark(band.0, band.1) > 100, "{}", with.dark(band.0, band.1));
    assert_eq!(without.dark(band.0, band.1), 0);
    // Without a title the top 12 rows are blank.
    assert_eq!(without.ink((0, 800), (0, 12)), 0);
}

#[test]
fn axis_descriptions_and_tick_labels_are_drawn() {
    let long = decode(&two_curves().to_png().unwrap());
    // One-letter descriptions: the same layout, far fewer glyph pixels.
    let short =
        decode(&LineChart { x_label: "x".into(), y_label: "y".into(), ..two_curves() }.to_png().unwrap());
    // x description: bottom 25 rows, centre.
    let bottom = ((200, 600), (475, 500));
    assert!(long.dark(bottom.0, bottom.1) > short.dark(bottom.0, bottom.1) + 100);
    assert!(short.dark(bottom.0, bottom.1) > 10);
    // y description: leftmost 25 columns, middle rows.
    let left = ((0, 25), (100, 400));
    assert!(
        long.dark(left.0, left.1) > short.dark(left.0, left.1) + 100,
        "{} vs {}",
        long.dark(left.0, left.1),
        short.dark(left.0, left.1)
    );
    assert!(short.dark(left.0, left.1) > 10);
    // Tick labels, also without descriptions: digits left of the plot and under it.
    let bare = decode(
        &LineChart { x_label: String::new(), y_label: String::new(), ..two_curves() }.to_png().unwrap(),
    );
    // (Only "0", "2", "4", "6" on the y axis here.)
    assert!(bare.dark((0, 60), (40, 440)) > 20, "{}", bare.dark((0, 60), (40, 440)));
    assert!(bare.dark((80, 780), (440, 500)) > 50, "{}", bare.dark((80, 780), (440, 500)));
    assert_eq!(bare.dark((0, 8), (0, 500)), 0, "no y description without y_label");
}

#[test]
fn legend_shows_labels_only_when_there_are_labels() {
    let labelled = decode(&two_curves().to_png().unwrap());
    let mut unlabelled = two_curves();
    for s in &mut unlabelled.series {
        s.label.clear();
    }
    let unlabelled = decode(&unlabelled.to_png().unwrap());
    // Identical except inside the legend box, which carries text (dark pixels).
    let differing: Vec<(usize, usize)> = (0..500)
        .flat_map(|y| (0..800).map(move |x| (x, y)))
        .filter(|&(x, y)| labelled.px(x, y) != unlabelled.px(x, y))
        .collect();
    assert!(differing.len() > 200, "{}", differing.len());
    let dark = differing.iter().filter(|&&(x, y)| labelled.px(x, y).iter().all(|&c| c < 110)).count();
    assert!(dark > 50, "{dark}");
}

#[test]
fn non_finite_points_are_skipped() {
    let clean = two_curves();
    let mut dirty = two_curves();
    dirty.series[0].points.extend([(60_000.0, f64::NAN), (f64::INFINITY, 3.0), (f64::NAN, f64::NAN)]);
    dirty.series[1].points.insert(0, (f64::NEG_INFINITY, 1e300));
    // Trailing/leading non-finite points change nothing: not the ranges, not the lines.
    assert_eq!(decode(&clean.to_png().unwrap()).rgb, decode(&dirty.to_png().unwrap()).rgb);
    // A NaN inside a curve breaks it but the rest is still drawn.
    let mut gap = two_curves();
    gap.series[0].points[25].1 = f64::NAN;
    let img = decode(&gap.to_png().unwrap());
    assert!(img.count(PALETTE[0]) > 150);
    // Only NaNs: a valid image with axes.
    let all_nan = LineChart { series: vec![Series::new("nan", vec![(f64::NAN, 1.0); 5])], ..two_curves() };
    let img = decode(&all_nan.to_png().unwrap());
    assert_eq!((img.w, img.h), (800, 500));
}

#[test]
fn log_x_skips_non_positive_x() {
    let chart = LineChart {
        log_x: true,
        x_label: "batch size".into(),
        series: vec![
            Series::new("a", vec![(-1.0, 5.0), (0.0, 4.0), (1.0, 1.0), (10.0, 2.0), (1000.0, 3.0)]),
            Series::new("b", vec![(0.0, 100.0)]),
        ],
        ..two_curves()
    };
    let img = decode(&chart.to_png().unwrap());
    assert!(img.count(PALETTE[0]) > 100);
    // Skipped points do not stretch the y range: same picture as without them.
    let clean = LineChart {
        series: vec![
            Series::new("a", vec![(1.0, 1.0), (10.0, 2.0), (1000.0, 3.0)]),
            Series::new("b", vec![]),
        ],
        ..chart.clone()
    };
    assert_eq!(img.rgb, decode(&clean.to_png().unwrap()).rgb);
    // Only non-positive x: still a valid image.
    let none = LineChart { series: vec![Series::new("z", vec![(0.0, 1.0), (-3.0, 2.0)])], ..chart };
    let img = decode(&none.to_png().unwrap());
    assert_eq!((img.w, img.h), (800, 500));
}

#[test]
fn empty_and_degenerate_inputs_are_valid_images() {
    let img = decode(&LineChart::default().to_png().unwrap());
    assert_eq!((img.w, img.h), (800, 500));
    // Axes are drawn even without data.
    assert!(img.dark((0, 800), (0, 500)) > 100);
    for pts in [vec![(1.0, 1.0)], vec![(1.0, 1.0), (1.0, 1.0)], vec![(0.0, -f64::MAX), (1.0, f64::MAX)]] {
        let img =
            decode(&LineChart { series: vec![Series::new("p", pts)], ..two_curves() }.to_png().unwrap());
        assert_eq!((img.w, img.h), (800, 500));
    }
    // A single point is drawn as a dot.
    let dot = LineChart { series: vec![Series::new("p", vec![(3.0, 4.0)])], ..two_curves() };
    assert!(decode(&dot.to_png().unwrap()).count(PALETTE[0]) > 10);
}

#[test]
fn bands_are_shaded_in_a_light_series_colour() {
    let mut chart = two_curves();
    chart.series[0].band = Some(
        (0..50).map(|i| (i as f64 * 1000.0, (i as f64).sqrt() - 0.5, (i as f64).sqrt() + 0.5)).collect(),
    );
    chart.series[0].band.as_mut().unwrap()[10].1 = f64::NAN;
    let with = decode(&chart.to_png().unwrap());
    let without = decode(&two_curves().to_png().unwrap());
    // The band is a light tint of blue: blue channel clearly above red, yet light.
    let tint = |img: &Img| {
        img.rgb
            .chunks(3)
            .filter(|p| p[2] > 200 && p[0] > 150 && p[0] < 235 && p[2] as i32 - p[0] as i32 > 20)
            .count()
    };
    // (The band is ~1/30 of the plot's height over its whole width: several thousand pixels.)
    assert!(tint(&with) > tint(&without) + 5000, "{} vs {}", tint(&with), tint(&without));
    // The curve itself stays on top, in its exact colour.
    assert!(with.count(PALETTE[0]) > 200);
}

#[test]
fn learning_curve_labels_its_axes() {
    let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64 * 2048.0, -200.0 + 10.0 * i as f64)).collect();
    let chart = learning_curve(&pts, "PPO on Pendulum");
    assert_eq!(chart.title, "PPO on Pendulum");
    assert_eq!(chart.series.len(), 1);
    assert_eq!(chart.series[0].points, pts);
    assert!(!chart.x_label.is_empty() && !chart.y_label.is_empty() && !chart.log_x);
    let img = decode(&chart.to_png().unwrap());
    assert!(img.count(PALETTE[0]) > 200);
}

fn table() -> BarChart {
    BarChart {
        title: "Final return (mean ± std over 5 seeds)".into(),
        x_label: "environment".into(),
        y_label: "return".into(),
        categories: vec!["CartPole".into(), "Pendulum".into(), "Reacher".into()],
        series: vec![
            BarSeries::new("PPO", vec![480.0, -200.0, -5.0]).with_errors(vec![15.0, 40.0, 1.0]),
            BarSeries::new("SAC", vec![450.0, -150.0, f64::NAN]).with_errors(vec![20.0, 25.0, 1.0]),
            BarSeries::new("paper", vec![500.0, -140.0]),
        ],
        size: (0, 0),
        value_labels: false,
    }
}

#[test]
fn bar_chart_draws_bars_error_bars_text_and_legend() {
    let img = decode(&table().to_png().unwrap());
    assert_eq!((img.w, img.h), (800, 500));
    for c in &PALETTE[..3] {
        assert!(img.count(*c) > 300, "{c:?}: {}", img.count(*c));
    }
    assert!(img.dark((200, 600), (0, 30)) > 100, "title");
    let no_err = BarChart {
        series: table().series.into_iter().map(|s| BarSeries { errors: None, ..s }).collect(),
        ..table()
    };
    let plain = decode(&no_err.to_png().unwrap());
    // Error bars add dark pixels; the y range grows with them, so compare totals.
    assert!(img.dark((0, 800), (0, 500)) > plain.dark((0, 800), (0, 500)) + 50);
    // Value labels add text.
    let labelled = decode(&BarChart { value_labels: true, ..table() }.to_png().unwrap());
    let (a, b) = (labelled.dark((70, 800), (30, 440)), img.dark((70, 800), (30, 440)));
    assert!(a > b + 50, "{a} vs {b}");
    // Missing values draw no bar: fewer "SAC" pixels than "PPO" pixels.
    assert!(img.count(PALETTE[1]) < img.count(PALETTE[0]));
}

#[test]
fn bar_chart_degenerate_inputs() {
    for chart in [
        BarChart::default(),
        BarChart { categories: vec!["a".into()], ..Default::default() },
        BarChart { series: vec![BarSeries::new("x", vec![1.0])], ..Default::default() },
        BarChart {
            categories: vec!["a".into(), "b".into()],
            series: vec![BarSeries::new("x", vec![f64::NAN, 0.0]).with_errors(vec![-1.0, f64::INFINITY])],
            ..Default::default()
        },
        BarChart {
            categories: vec!["a very long category name that cannot fit in its slot at all".into(); 12],
            series: vec![BarSeries::new("x", vec![1e300; 12]), BarSeries::new("y", vec![-1e300; 12])],
            ..Default::default()
        },
    ] {
        let img = decode(&chart.to_png().unwrap());
        assert_eq!((img.w, img.h), (800, 500));
    }
}

#[test]
fn tiny_images_with_long_text_do_not_panic() {
    let long = "a rather long axis description with units (metres per second)".to_string();
    for size in [(64, 64), (64, 500), (800, 64), (100, 80)] {
        let line = LineChart {
            title: long.clone(),
            x_label: long.clone(),
            y_label: long.clone(),
            log_x: true,
            series: vec![
                Series::new(long.clone(), vec![(1e-30, -1.234567e-7), (1e30, 1.5e-7)]),
                Series::new("b", vec![(2.0, 1.0)]),
            ],
            size,
        };
        // Either an image of the requested size or an error; never a panic (nor a hang).
        match line.to_png() {
            Ok(bytes) => {
                let img = decode(&bytes);
                assert_eq!((img.w, img.h), (size.0 as usize, size.1 as usize));
            }
            Err(e) => eprintln!("{size:?}: {e}"),
        }
        let bars = BarChart { title: long.clone(), y_label: long.clone(), size, ..table() };
        match bars.to_png() {
            Ok(bytes) => {
                let img = decode(&bytes);
                assert_eq!((img.w, img.h), (size.0 as usize, size.1 as usize));
            }
            Err(e) => eprintln!("{size:?}: {e}"),
        }
    }
}
