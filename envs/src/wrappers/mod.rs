//! Gymnasium's wrappers over any [`crate::Env`].

mod time_limit;

pub use time_limit::TimeLimit;
