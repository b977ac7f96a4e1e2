//! se3 (in progress).
