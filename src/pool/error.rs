//! Why a task produced no report.

use std::time::Duration;

/// Why a task produced no report. The server maps each to the contract's
/// error codes in `crate::error`.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskError {
    ParseFailed(String),
    Crashed(String),
    TimedOut(Duration),
    /// The interactive lane is full.
    Overloaded,
    /// No worker can take work (they fail at boot, or the supervisor died).
    Unavailable(String),
    /// This content crashed or timed out workers before; here is how.
    Quarantined(Box<TaskError>),
    /// The pool is draining: it takes no new work.
    ShuttingDown,
    /// Whoever waited for the task went away (a client hung up, a job was
    /// cancelled): nobody reads this error.
    Abandoned,
    Internal(String),
}
