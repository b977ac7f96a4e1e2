//! `check_env`: Gymnasium's environment checker.

/// One problem found by [`check_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFailure {
    /// Which check failed.
    pub check: &'static str,
    /// What is wrong, readable.
    pub message: String,
}

/// Placeholder until the checker lands.
pub fn check_env() -> Vec<CheckFailure> {
    Vec::new()
}
