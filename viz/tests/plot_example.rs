//! Writes example plots for eyeballing: `cargo test -p alignrl-viz --test plot_example -- --ignored`
//! (into `$ALIGNRL_VIZ_EXAMPLE_DIR`, default the system temp dir: `viz_example*.png`).

use alignrl_viz::plot::{BarChart, BarSeries, LineChart, Series, learning_curve};

#[test]
#[ignore = "writes PNG files for a person to look at"]
fn write_examples() {
    let dir = std::env::var_os("ALIGNRL_VIZ_EXAMPLE_DIR").map_or_else(std::env::temp_dir, Into::into);
    let curve = |k: f64, i: usize| -1200.0 + 1050.0 * (1.0 - (-(i as f64) / k).exp());
    let steps: Vec<f64> = (0..=60).map(|i| i as f64 * 2048.0).collect();
    let mean =
        |k: f64| -> Vec<(f64, f64)> { steps.iter().enumerate().map(|(i, &x)| (x, curve(k, i))).collect() };
    let band = |k: f64, w: f64| -> Vec<(f64, f64, f64)> {
        steps.iter().enumerate().map(|(i, &x)| (x, curve(k, i) - w, curve(k, i) + w)).collect()
    };
    let line = LineChart {
        title: "Pendulum-v1: mean episode return (5 seeds, ± std)".into(),
        x_label: "environment steps".into(),
        y_label: "episode return".into(),
        log_x: false,
        series: vec![
            Series { band: Some(band(12.0, 90.0)), ..Series::new("PPO", mean(12.0)) },
            Series { band: Some(band(5.0, 60.0)), ..Series::new("SAC", mean(5.0)) },
            Series::new("random policy", vec![(0.0, -1230.0), (122_880.0, -1230.0)]),
        ],
        size: (0, 0),
    };
    std::fs::write(dir.join("viz_example.png"), line.to_png().unwrap()).unwrap();

    let log = LineChart {
        title: "Calibration error vs number of poses".into(),
        x_label: "poses".into(),
        y_label: "rotation error (deg)".into(),
        log_x: true,
        series: vec![
            Series::new("Bingham", (0..=12).map(|i| (3f64 * 2f64.powi(i), 5.0 / (1.0 + i as f64))).collect()),
            Series::new(
                "Tsai-Lenz",
                (0..=12).map(|i| (3f64 * 2f64.powi(i), 9.0 / (1.0 + 0.7 * i as f64))).collect(),
            ),
        ],
        size: (0, 0),
    };
    std::fs::write(dir.join("viz_example_log.png"), log.to_png().unwrap()).unwrap();

    let bars = BarChart {
        title: "Final return (mean ± std over 5 seeds)".into(),
        x_label: "environment".into(),
        y_label: "episode return".into(),
        categories: vec!["CartPole-v1".into(), "Pendulum-v1".into(), "Reacher-v4".into(), "GridWorld".into()],
        series: vec![
            BarSeries::new("PPO (ours)", vec![480.0, -210.0, -6.0, 0.95])
                .with_errors(vec![15.0, 40.0, 1.5, 0.02]),
            BarSeries::new("SAC (ours)", vec![455.0, -150.0, -4.5, f64::NAN])
                .with_errors(vec![20.0, 25.0, 1.0, 0.0]),
            BarSeries::new("paper", vec![500.0, -140.0, -4.0, 1.0]),
        ],
        size: (0, 0),
        value_labels: true,
    };
    std::fs::write(dir.join("viz_example_bar.png"), bars.to_png().unwrap()).unwrap();

    let pts: Vec<(f64, f64)> =
        (0..40).map(|i| (i as f64 * 4096.0, 20.0 + 4.5 * i as f64 + (i as f64).sin() * 10.0)).collect();
    let small = LineChart { size: (480, 300), ..learning_curve(&pts, "CartPole-v1 PPO seed 0") };
    std::fs::write(dir.join("viz_example_small.png"), small.to_png().unwrap()).unwrap();
}
