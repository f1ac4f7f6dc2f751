//! Engine tests: containers.
