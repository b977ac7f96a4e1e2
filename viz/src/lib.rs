//! Visualisation: PNG plots ([`plot`]) and rerun recordings ([`record`]).

pub mod plot;
pub mod record;
