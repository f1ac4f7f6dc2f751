//! Engine tests: sweep.
