//! bingham (in progress).
