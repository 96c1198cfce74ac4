//! Workspace end-to-end tests: one binary, one module per concern.

mod surfaces;
mod workspace;
