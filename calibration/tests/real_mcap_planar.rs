//! Contract: the ROS 2 recording `nav2_turtlebot.mcap` (a TurtleBot driving on a floor) loads
//! through the MCAP reader, and hand-eye calibration between its wheel odometry (`/odom`,
//! base_link in the odom frame) and its localisation (`/amcl_pose`, base_link in the map frame)
//! reports the planar motion as degenerate — translation along z is not observable — instead of
//! returning a silently trusted extrinsic.

use std::path::Path;

use alignrl_calibration::align::{AssociateOptions, SyncMethod, associate};
use alignrl_calibration::handeye::{self, HandEyeMethod, MotionPairs, PairSelection};
use alignrl_calibration::observability::Quantity;
use alignrl_envs::sensors::read_mcap_poses;

#[test]
fn turtlebot_planar_motion_is_reported_degenerate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/real/nav2_turtlebot.mcap");
    if !Path::new(path).exists() {
        eprintln!("skipped: {path} not present");
        return;
    }
    let odom = read_mcap_poses(path, "/odom").expect("/odom loads").into_data();
    let amcl = read_mcap_poses(path, "/amcl_pose").expect("/amcl_pose loads").into_data();
    assert_eq!(odom.len(), 2639);
    assert_eq!(amcl.len(), 135);
    // Odometry (100 Hz-ish) interpolated at the localisation stamps.
    let options = AssociateOptions { method: SyncMethod::Interpolation, ..AssociateOptions::default() };
    let associated = associate(&odom, &amcl, &options).expect("stamps overlap");
    assert!(associated.len() >= 80, "{} associated poses", associated.len());
    let pairs = MotionPairs::from_associated(&associated, &PairSelection::default()).expect("enough turning");
    for method in HandEyeMethod::ALL {
        let solution = handeye::solve(&pairs, method).expect("solver runs");
        let report = &solution.observability;
        assert!(
            !solution.is_trusted(),
            "{}: planar data must not give a trusted extrinsic\n{report}",
            method.name()
        );
        assert!(
            report
                .findings_about(Quantity::Translation)
                .any(|f| f.unobservable && f.message.contains("along z")),
            "{}: expected 'translation along z … not observable'\n{report}",
            method.name()
        );
    }
}
