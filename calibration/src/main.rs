//! `alignrl-calibrate`: extrinsic calibration from recorded trajectories (in progress).

fn main() {
    eprintln!("alignrl-calibrate: not implemented yet");
    std::process::exit(2);
}
