//! Giving freed memory back to the kernel. glibc's malloc keeps what a task
//! freed: the top of the heap above its trim threshold goes back by itself,
//! but free chunks below a live allocation stay resident, so one large
//! document leaves a worker holding its peak until it is recycled.
//! `malloc_trim(0)` returns every free page of the heap
//! (`madvise(MADV_DONTNEED)` and `brk`, both on the sandbox's list), and
//! [`map_large_allocations`] keeps large blocks out of the heap altogether,
//! in every process of the service.
#![allow(unsafe_code)]

/// Allocations from this size up get a mapping of their own, returned to
/// the kernel the moment they are freed. glibc starts at 128 KiB but raises
/// its threshold to the size of every mapped block freed (up to 32 MiB), so
/// after the first large document every later one is carved out of the
/// heap or a thread's arena and stays resident when freed: a worker that is
/// never idle for long held 10-20 MiB of past documents, the server's
/// runtime threads (when uploads were spooled in buffers) 5-7 MiB of past
/// uploads. Fixed at 128 KiB, the blocks of 128 KiB to 1 MiB that a 4 MiB
/// text's analysis allocates and frees were mapped and faulted in anew each
/// time: the worker's `analysis_ms` went from 47 to 64 ms. From 1 MiB up,
/// only a document's few large buffers are (inflated streams, page images,
/// Tesseract's copies of a page), for about 1 ms of a 4 MiB text's 35
/// (BENCHMARKS.md, "Memory, second pass").
pub const MMAP_THRESHOLD_BYTES: usize = 1 << 20;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`] (which also
/// stops it from moving). Call at the start of `main`, before any thread
/// and any fork: the setting is the allocator's state, inherited by the
/// supervisor and every worker.
pub fn map_large_allocations() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt takes plain integers and locks the allocator itself;
    // it changes only where later allocations are placed.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as libc::c_int);
    }
}

/// Growth of the resident set during a task (its peak over what the worker
/// held before it) from which the heap is trimmed afterwards. Below it, what
/// a trim could give back is at most a few MiB, and trimming walks every
/// free chunk of the heap; a typical document grows a worker by under 2 MiB
/// (bench/peak_rss.py), a large PDF or a scanned page by tens of MiB.
pub const TRIM_AFTER_GROWTH_BYTES: u64 = 4 << 20;

/// Growth from which the heap is trimmed as soon as the answer is out, even
/// with the next request waiting: a large scan or a pathological PDF (30 MiB
/// and more over an idle worker) must not stay resident while the worker
/// reads one small document after another. (A 300-dpi letter page read by
/// OCR grows a worker by about 25 MiB, most of it Tesseract's page-sized
/// images, which are mapped blocks ([`MMAP_THRESHOLD_BYTES`]) and go back
/// when freed; about 5 MiB waits for the idle trim.) Below it, the trim
/// waits until the worker is idle ([`TRIM_WHEN_IDLE_AFTER`]): a trim hands
/// the pages back and the next large document faults them in again, which
/// for a 4 MiB text (about 14 MiB of growth) cost 5 ms of its 35 ms, so a
/// worker kept busy with large documents keeps what they use.
pub const TRIM_AT_ONCE_GROWTH_BYTES: u64 = 32 << 20;

/// How long a worker with a trim pending waits for the next request before
/// it trims: longer than the gap between the requests of a busy server, or
/// of one client that uploads large documents one after another (a few
/// milliseconds to spool the next; 100 ms was too short for a client that
/// also works between its uploads), short enough that an idle service gives
/// its memory back at once as far as anyone watching can see.
pub const TRIM_WHEN_IDLE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// When to trim after a task that grew the worker by `growth` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimAfter {
    Never,
    /// Once the worker has waited [`TRIM_WHEN_IDLE_AFTER`] for a request.
    Idle,
    /// Before the next request is read.
    AtOnce,
}

impl TrimAfter {
    pub fn for_growth(growth: u64) -> TrimAfter {
        if growth >= TRIM_AT_ONCE_GROWTH_BYTES {
            TrimAfter::AtOnce
        } else if growth > TRIM_AFTER_GROWTH_BYTES {
            TrimAfter::Idle
        } else {
            TrimAfter::Never
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable (or to hang up); true
/// when it did, false when the time ran out. An error counts as readable:
/// the read that follows reports it.
pub fn readable_within(fd: std::os::fd::BorrowedFd<'_>, timeout: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll_fd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: one pollfd, valid for the call; the descriptor is borrowed
        // and stays open for its duration.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
        if ready >= 0 {
            return ready > 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return true;
        }
    }
}

/// Returns the heap's free pages to the kernel. Whether the task grew the
/// worker enough to be worth it is the caller's call
/// ([`TRIM_AFTER_GROWTH_BYTES`]).
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes a plain integer, locks the arenas itself and
    // only releases pages of chunks that are free; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    /// Tests that read this process's resident set take turns, so that one
    /// test's allocations do not move another's figures.
    pub(crate) static RESIDENT_SET: Mutex<()> = Mutex::new(());

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
        line["VmRSS:".len()..].trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    #[test]
    fn small_growth_keeps_its_pages_a_moderate_one_waits_for_idle_a_large_one_goes_at_once() {
        use super::TrimAfter;
        assert_eq!(TrimAfter::for_growth(1 << 20), TrimAfter::Never);
        assert_eq!(TrimAfter::for_growth(14 << 20), TrimAfter::Idle);
        assert_eq!(TrimAfter::for_growth(40 << 20), TrimAfter::AtOnce);
    }

    #[test]
    fn a_socket_with_nothing_to_read_times_out_and_one_with_data_does_not() {
        use std::io::Write;
        use std::os::fd::AsFd;
        use std::time::{Duration, Instant};
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let started = Instant::now();
        assert!(!super::readable_within(theirs.as_fd(), Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        ours.write_all(b"x").unwrap();
        assert!(super::readable_within(theirs.as_fd(), Duration::from_secs(10)));
        drop(ours);
    }

    #[test]
    fn a_large_block_goes_back_when_freed_even_after_a_larger_one() {
        let _turn = RESIDENT_SET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        super::map_large_allocations();
        // glibc's own threshold would rise to 16 MiB when the first block is
        // freed, and the second would then come from the heap and stay
        // resident once freed, held below the live small block after it.
        let touched = |bytes: usize| vec![1u8; bytes];
        drop(std::hint::black_box(touched(16 << 20)));
        let second = std::hint::black_box(touched(8 << 20));
        let pin = std::hint::black_box(Box::new([1u8; 1024]));
        let held = resident_kib();
        drop(second);
        let freed = resident_kib();
        assert!(held >= freed + (6 << 10), "resident {held} kB while held, {freed} kB once freed");
        assert_eq!(pin[0], 1);
    }

    #[test]
    fn freed_chunks_below_a_live_one_go_back_after_a_trim() {
        let _turn = RESIDENT_SET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // 64 MiB in chunks small enough for the heap (not mmap), then one
        // allocation above them that stays: the heap cannot shrink from the
        // top, so freeing the chunks alone keeps them resident.
        let chunks: Vec<Box<[u8; 1024]>> = (0..64 * 1024).map(|i| Box::new([i as u8; 1024])).collect();
        let pin = Box::new([1u8; 1024]);
        drop(chunks);
        let before = resident_kib();
        super::trim();
        let after = resident_kib();
        assert!(before >= after + (48 << 10), "resident {before} kB before the trim, {after} kB after");
        assert_eq!(pin[0], 1);
    }
}
