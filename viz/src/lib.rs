//! Visualisation: PNG plots ([`plot`]) and rerun recordings.

pub mod plot;
