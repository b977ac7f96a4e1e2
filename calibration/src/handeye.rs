//! handeye (in progress).
