//! Manipulation tasks on rapier3d (end-effector position control, two-finger gripper).
