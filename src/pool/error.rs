//! Why a task produced no report.

use std::time::Duration;

/// Why a task produced no report. The server maps each to the contract's
/// error codes in `crate::error`.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskError {
    ParseFailed(String),
    /// The request's options do not fit the document (a page beyond its
    /// last).
    BadRequest(String),
    /// The worker died under the document, and so did the one it was
    /// tried on again: counts against the document.
    Crashed(String),
    /// Workers kept being `SIGKILL`ed from outside under the document (an
    /// operator, the OOM killer): answered as a crash, never counted
    /// against the document.
    KilledFromOutside(String),
    TimedOut(Duration),
    /// The interactive lane is full.
    Overloaded,
    /// No worker can take work (they fail at boot, or the supervisor died).
    Unavailable(String),
    /// This content crashed or timed out workers before; here is how.
    Quarantined(Box<TaskError>),
    /// The pool is draining: it takes no new work.
    ShuttingDown,
    Internal(String),
}
