//! The client-side subcommands: `docmill analyze` (the pool without HTTP) and
//! `docmill submit` (a client of a running server).

pub mod analyze;
pub mod submit;
