//! Engine tests: markup.
