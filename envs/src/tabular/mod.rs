//! Tabular MDPs with exact models.

use crate::registry::Registry;

/// Registers the tabular environments.
pub fn register(_registry: &mut Registry) {}
