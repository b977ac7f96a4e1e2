//! Classic control environments with Gymnasium 1.x dynamics.

use crate::registry::Registry;

/// Registers the classic control environments.
pub fn register(_registry: &mut Registry) {}
