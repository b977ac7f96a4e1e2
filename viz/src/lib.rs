//! Visualisation: rerun recordings and PNG plots (not built yet).
