//! The calibration result as `calib.yaml` and as one JSON object (used by `alignrl-calibrate`).
//!
//! Conventions: `T_ref_sensor = X` maps sensor coordinates into the reference frame
//! (`p_ref = X · p_sensor`); metres, radians unless a key says degrees; quaternions with their
//! coefficient order in the key (`quaternion_wxyz`, `quaternion_xyzw`); roll-pitch-yaw with
//! `R = Rz(yaw) · Ry(pitch) · Rx(roll)`. Standard deviations of the rotation are those of small
//! rotations about the reference frame's x, y, z axes ([`crate::refine`]).

use std::fmt::Write as _;

use nalgebra::Isometry3;
use serde_json::{Value, json};

use crate::refine::{Refinement, TimeOffsetEstimate};
use crate::se3::{quat_wxyz, quat_xyzw, rpy, to_matrix4};
use crate::selection::Selection;

/// One candidate considered (a hand-eye baseline or an RL solution), before and after refinement.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its name ("Tsai-Lenz", "Park-Martin", "Daniilidis", "AX=YB", "identity", "rl").
    pub name: String,
    /// The initial estimate.
    pub initial: Isometry3<f64>,
    /// The refined estimate (`None` when the refinement failed).
    pub refined: Option<Isometry3<f64>>,
    /// Refined residual RMS per component: rotation (radians), translation (metres).
    pub refined_rms: Option<(f64, f64)>,
    /// Whitened cost of the refined estimate under common noise levels (lower is better).
    pub score: Option<f64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Everything `alignrl-calibrate` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationReport {
    /// What produced the answer (e.g. "handeye+refine (start: Park-Martin)").
    pub method: String,
    /// The extrinsic `T_ref_sensor`. For the IMU mode: `T_odom_imu` with an unestimated
    /// translation (see `translation_estimated`).
    pub x: Isometry3<f64>,
    /// Whether the translation was estimated at all.
    pub translation_estimated: bool,
    /// Standard deviations `[t_x, t_y, t_z]` (m) and `[θ_x, θ_y, θ_z]` (rad); infinite when
    /// unbounded, `None` when not computed.
    pub std: Option<[f64; 6]>,
    /// Whether the result is trustworthy.
    pub trusted: bool,
    /// Unobservable or weak directions as short names ("translation along z").
    pub unobservable: Vec<String>,
    /// The observability findings in words, with advice.
    pub findings: Vec<String>,
    /// Other warnings (data repairs, dropped windows, fall-backs).
    pub warnings: Vec<String>,
    /// The refinement, when one ran.
    pub refinement: Option<Refinement>,
    /// The time-offset estimate and whether it was applied.
    pub time_offset: Option<(TimeOffsetEstimate, bool)>,
    /// The excitation report of the data selection.
    pub selection: Option<Selection>,
    /// Candidates considered.
    pub candidates: Vec<Candidate>,
    /// Inputs as `(key, value)` (files, formats, counts), written as they are.
    pub inputs: Vec<(String, String)>,
    /// Parent and child frame names for the `static_transform_publisher` line.
    pub frames: (String, String),
    /// Extra scalar results as `(key, value)` (e.g. the gyro bias of the IMU mode).
    pub extra: Vec<(String, Value)>,
}

fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn num(x: f64) -> String {
    if x.is_nan() {
        ".nan".into()
    } else if x == f64::INFINITY {
        ".inf".into()
    } else if x == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        format!("{}", x + 0.0)
    }
}

fn list(v: &[f64]) -> String {
    format!("[{}]", v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", "))
}

fn jnum(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn jlist(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| jnum(*x)).collect())
}

/// The `static_transform_publisher` command (ROS 2 flag syntax) publishing `x` as parent → child.
pub fn static_transform_publisher(x: &Isometry3<f64>, parent: &str, child: &str) -> String {
    let t = x.translation.vector;
    let [qx, qy, qz, qw] = quat_xyzw(&x.rotation);
    format!(
        "ros2 run tf2_ros static_transform_publisher --x {} --y {} --z {} --qx {} --qy {} --qz {} --qw {} \
         --frame-id {parent} --child-frame-id {child}",
        num(t.x),
        num(t.y),
        num(t.z),
        num(qx),
        num(qy),
        num(qz),
        num(qw)
    )
}

impl CalibrationReport {
    /// The `calib.yaml` text.
    pub fn to_yaml(&self) -> String {
        let mut o = String::new();
        macro_rules! l {
            ($($arg:tt)*) => {{
                let _ = writeln!(o, $($arg)*);
            }};
        }
        let x = &self.x;
        let t = x.translation.vector;
        let m = to_matrix4(x);
        let [roll, pitch, yaw] = rpy(&x.rotation);
        l!("# alignrl-calibrate result.");
        l!(
            "# T_ref_sensor maps sensor coordinates into the reference frame: p_ref = T_ref_sensor * p_sensor;"
        );
        l!(
            "# with T_wr(t) the reference poses and T_ws(t) the sensor poses, T_wr(t) * T_ref_sensor = Y * T_ws(t)."
        );
        l!("# Units: metres, radians unless the key says deg. rpy: R = Rz(yaw) * Ry(pitch) * Rx(roll).");
        l!("format_version: 1");
        l!("method: {}", q(&self.method));
        l!("trusted: {}", self.trusted);
        l!("unobservable: [{}]", self.unobservable.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "));
        l!("inputs:");
        for (k, v) in &self.inputs {
            l!("  {k}: {}", q(v));
        }
        l!("T_ref_sensor:");
        l!("  matrix:");
        for r in 0..4 {
            l!("    - {}", list(&[m[(r, 0)], m[(r, 1)], m[(r, 2)], m[(r, 3)]]));
        }
        if self.translation_estimated {
            l!("  translation_m: {}", list(&[t.x, t.y, t.z]));
        } else {
            l!("  translation_m: null  # not estimated (the matrix holds zeros)");
        }
        l!("  quaternion_wxyz: {}", list(&quat_wxyz(&x.rotation)));
        l!("  quaternion_xyzw: {}", list(&quat_xyzw(&x.rotation)));
        l!("  rpy_rad: {}", list(&[roll, pitch, yaw]));
        l!("  rpy_deg: {}", list(&[roll.to_degrees(), pitch.to_degrees(), yaw.to_degrees()]));
        l!(
            "static_transform_publisher: {}",
            q(&static_transform_publisher(x, &self.frames.0, &self.frames.1))
        );
        if let Some(s) = &self.std {
            l!("std:  # one standard deviation; .inf: the data carries no information about it");
            l!("  translation_m: {}", list(&s[..3]));
            l!(
                "  rotation_deg: {}  # small rotations about the reference frame's x, y, z",
                list(&[s[3].to_degrees(), s[4].to_degrees(), s[5].to_degrees()])
            );
        }
        if let Some(r) = &self.refinement {
            l!("residuals:");
            l!("  poses: {}", r.residuals.poses);
            l!("  rotation_rms_deg: {}  # per component", num(r.residuals.rotation_rms_rad.to_degrees()));
            l!("  translation_rms_m: {}  # per component", num(r.residuals.translation_rms_m));
            l!("  rotation_max_deg: {}", num(r.residuals.rotation_max_rad.to_degrees()));
            l!("  translation_max_m: {}", num(r.residuals.translation_max_m));
            l!("  variance_factor: {}", num(r.variance_factor));
            l!(
                "  correlation_time: {}  # residual autocorrelation time (poses); 1 for white noise",
                num(r.correlation_time)
            );
            l!("  world_alignment_segments: {}", r.segments.len());
            l!("  iterations: {}", r.iterations);
            l!("  converged: {}", r.converged);
        }
        if let Some((t, applied)) = &self.time_offset {
            l!("time_offset:  # sensor clock = reference clock + offset_s");
            l!("  offset_s: {}", num(t.offset_s));
            l!("  std_s: {}", num(t.std_s));
            l!("  at_window_edge: {}", t.at_window_edge);
            l!("  applied: {applied}");
        }
        if let Some(s) = &self.selection {
            l!("excitation:  # e2 of the normalised skew(omega) information, (rad/s)^4");
            l!("  min_score: {}", num(s.min_score));
            l!("  kept_windows: {}", s.kept_count());
            l!("  used_all_data_as_fallback: {}", s.fallback_all);
            l!("  windows:");
            for w in &s.windows {
                l!(
                    "    - {{start_s: {}, end_s: {}, samples: {}, score: {}, min_eigenvalue: {}, rms_rate_deg_s: {}, kept: {}{}}}",
                    num(w.start_s),
                    num(w.end_s),
                    w.samples,
                    num(w.score),
                    num(w.eigenvalues[0]),
                    num(w.rms_rate_rad_s.to_degrees()),
                    w.kept,
                    w.reason.as_ref().map(|r| format!(", reason: {}", q(r))).unwrap_or_default()
                );
            }
        }
        if !self.candidates.is_empty() {
            l!("candidates:");
            for c in &self.candidates {
                l!("  - name: {}", q(&c.name));
                l!("    initial_translation_m: {}", list(c.initial.translation.vector.as_slice()));
                l!("    initial_quaternion_wxyz: {}", list(&quat_wxyz(&c.initial.rotation)));
                if let Some((rr, rt)) = c.refined_rms {
                    l!("    refined_rotation_rms_deg: {}", num(rr.to_degrees()));
                    l!("    refined_translation_rms_m: {}", num(rt));
                }
                if let Some(s) = c.score {
                    l!("    score: {}", num(s));
                }
                if let Some(e) = &c.error {
                    l!("    error: {}", q(e));
                }
            }
        }
        for (k, v) in &self.extra {
            l!("{k}: {v}");
        }
        l!("findings:{}", if self.findings.is_empty() { " []" } else { "" });
        for f in &self.findings {
            l!("  - {}", q(f));
        }
        l!("warnings:{}", if self.warnings.is_empty() { " []" } else { "" });
        for w in &self.warnings {
            l!("  - {}", q(w));
        }
        o
    }

    /// The JSON object printed by `--json` (see the binary's `--help` for the fields).
    pub fn to_json(&self) -> Value {
        let x = &self.x;
        let t = x.translation.vector;
        let m = to_matrix4(x);
        let [roll, pitch, yaw] = rpy(&x.rotation);
        let mut o = json!({
            "method": self.method,
            "trusted": self.trusted,
            "unobservable": self.unobservable,
            "translation_m": if self.translation_estimated { jlist(&[t.x, t.y, t.z]) } else { Value::Null },
            "quaternion_wxyz": jlist(&quat_wxyz(&x.rotation)),
            "rpy_deg": jlist(&[roll.to_degrees(), pitch.to_degrees(), yaw.to_degrees()]),
            "matrix": (0..4).map(|r| jlist(&[m[(r, 0)], m[(r, 1)], m[(r, 2)], m[(r, 3)]])).collect::<Vec<_>>(),
            "findings": self.findings,
            "warnings": self.warnings,
            "static_transform_publisher": static_transform_publisher(x, &self.frames.0, &self.frames.1),
        });
        let obj = o.as_object_mut().expect("object");
        if let Some(s) = &self.std {
            obj.insert("std_translation_m".into(), jlist(&s[..3]));
            obj.insert(
                "std_rotation_deg".into(),
                jlist(&[s[3].to_degrees(), s[4].to_degrees(), s[5].to_degrees()]),
            );
        }
        if let Some(r) = &self.refinement {
            obj.insert(
                "residuals".into(),
                json!({
                    "poses": r.residuals.poses,
                    "rotation_rms_deg": jnum(r.residuals.rotation_rms_rad.to_degrees()),
                    "translation_rms_m": jnum(r.residuals.translation_rms_m),
                    "correlation_time": jnum(r.correlation_time),
                }),
            );
        }
        if let Some((t, applied)) = &self.time_offset {
            obj.insert("time_offset_s".into(), jnum(t.offset_s));
            obj.insert("time_offset_std_s".into(), jnum(t.std_s));
            obj.insert("time_offset_applied".into(), json!(applied));
        }
        if let Some(s) = &self.selection {
            obj.insert(
                "windows".into(),
                json!({
                    "total": s.windows.len(),
                    "kept": s.kept_count(),
                    "fallback_all": s.fallback_all,
                    "dropped": s.dropped().map(|w| json!({
                        "start_s": jnum(w.start_s), "end_s": jnum(w.end_s), "reason": w.reason,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        if !self.candidates.is_empty() {
            obj.insert(
                "candidates".into(),
                Value::Array(
                    self.candidates
                        .iter()
                        .map(|c| {
                            json!({
                                "name": c.name,
                                "score": c.score.map(jnum),
                                "error": c.error,
                            })
                        })
                        .collect(),
                ),
            );
        }
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;

    fn report() -> CalibrationReport {
        CalibrationReport {
            method: "handeye+refine".into(),
            x: Isometry3::new(
                Vector3::new(0.1, -0.2, 0.3),
                Vector3::new(0.0, 0.0, std::f64::consts::FRAC_PI_2),
            ),
            translation_estimated: true,
            std: Some([0.001, 0.002, f64::INFINITY, 1e-3, 2e-3, 3e-3]),
            trusted: false,
            unobservable: vec!["translation along z".into()],
            findings: vec!["translation along z is not observable: \"planar\"".into()],
            warnings: vec![],
            refinement: None,
            time_offset: None,
            selection: None,
            candidates: vec![],
            inputs: vec![("reference".into(), "a b.tum".into())],
            frames: ("ref".into(), "sensor".into()),
            extra: vec![],
        }
    }

    #[test]
    fn yaml_and_json_carry_the_transform() {
        let r = report();
        let y = r.to_yaml();
        assert!(y.contains("translation_m: [0.1, -0.2, 0.3]"), "{y}");
        assert!(y.contains("trusted: false"));
        assert!(y.contains("unobservable: [\"translation along z\"]"));
        assert!(y.contains("translation_m: [0.001, 0.002, .inf]"));
        assert!(y.contains("--frame-id ref --child-frame-id sensor"));
        assert!(y.contains("\\\"planar\\\""), "quotes are escaped: {y}");
        let j = r.to_json();
        assert_eq!(j["translation_m"], json!([0.1, -0.2, 0.3]));
        let qv: Vec<f64> =
            j["quaternion_wxyz"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((qv[0] - h).abs() < 1e-12 && (qv[3] - h).abs() < 1e-12);
        assert_eq!(j["std_translation_m"][2], Value::Null);
        assert_eq!(j["unobservable"][0], "translation along z");
        assert!((j["rpy_deg"][2].as_f64().unwrap() - 90.0).abs() < 1e-9);
    }
}
