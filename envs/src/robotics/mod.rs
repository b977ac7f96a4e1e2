//! Robotics simulation on rapier3d: manipulation tasks ([`manip`]) and control tasks ([`control`]).
//!
//! Our own tasks in the spirit of Meta-World v2 and the DeepMind Control Suite, not ports of them.
//! World frame: z up, metres, seconds.

pub mod control;
pub mod manip;
