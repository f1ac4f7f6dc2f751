//! A gauge of waiters that cannot drift: a wait given up (a future dropped
//! in a `select!`, a cancelled request) takes its count with it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts one waiter in a gauge for as long as it lives.
pub struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    pub fn new(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
