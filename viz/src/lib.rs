//! Visualisation: PNG plots ([`plot`]) and rerun recordings ([`record`], [`calib`]).

pub mod calib;
pub mod plot;
pub mod record;
