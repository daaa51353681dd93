//! Provenance (placeholder).
