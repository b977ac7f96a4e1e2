//! align (in progress).
