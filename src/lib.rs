//! Root package of the alignrl workspace: whole-pipeline tests live in `tests/`.
