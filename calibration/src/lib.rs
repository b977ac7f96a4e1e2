//! SE(3) extrinsic calibration (L2Calib): not built yet, see the calibration issues.
