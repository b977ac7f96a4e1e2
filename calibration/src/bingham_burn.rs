//! bingham_burn (in progress).
