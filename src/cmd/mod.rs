//! The client-side subcommands: `docmill analyze` (the pool without HTTP),
//! `docmill submit` (a client of a running server) and `docmill man`.

pub mod analyze;
pub mod man;
pub mod submit;
