//! `docmill-worker`: the analysis engine, the worker loop that runs it inside a
//! forked process, and the wire protocol the server and the workers share.
//!
//! # Layout
//!
//! - [`engine`]: pure analysis, bytes in and a [`report::Report`] out; no I/O.
//! - [`report`]: the report of the HTTP contract, as serde types.
//! - [`heap`]: the allocator's freed memory given back: large blocks at once,
//!   the rest of the heap after a large task.
//! - [`ocr`]: Tesseract loaded at run time, the engine's OCR recogniser.
//! - [`protocol`]: length-prefixed bincode frames between server and worker;
//!   the only module that knows the wire format.
//! - [`handoff`]: the worker's end of the request socket: frames with the
//!   document's descriptor (`SCM_RIGHTS`), checked and mapped read-only.
//! - [`report_layout`]: where the server splices its fields into a report's
//!   JSON, and the report's digests read back from hex.
//! - [`sandbox`]: what confines a worker before its first document (uid,
//!   capabilities, rlimits, no_new_privs, Landlock, the seccomp allow-list).
//! - [`worker_loop`]: what a forked worker runs: read a request frame, analyse,
//!   measure, answer, repeat.
//! - `fault` (feature `fault-injection`, debug builds only): documents that make
//!   a worker misbehave on purpose, for the pool's tests.

#[cfg(all(feature = "fault-injection", not(debug_assertions)))]
compile_error!("the fault-injection feature is for tests and must never be in a release build");

#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod handoff;
pub mod heap;
pub mod log;
pub mod ocr;
pub mod protocol;
pub mod report_layout;
pub mod sandbox;
pub mod worker_loop;
