//! The `stripedns` command line.
