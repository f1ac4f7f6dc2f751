//! Engine tests: analysis.
