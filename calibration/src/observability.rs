//! observability (in progress).
