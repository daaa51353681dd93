//! OCI images (placeholder).
