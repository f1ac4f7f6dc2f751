//! Giving a worker's freed memory back to the kernel after a large document.
//! glibc's malloc keeps what a task freed: the top of the heap above its trim
//! threshold goes back by itself, but free chunks below a live allocation
//! stay resident, so one large document leaves a worker holding its peak
//! until it is recycled. `malloc_trim(0)` returns every free page of the
//! heap (`madvise(MADV_DONTNEED)` and `brk`, both on the sandbox's list).
#![allow(unsafe_code)]

/// Growth of the resident set during a task (its peak over what the worker
/// held before it) from which the heap is trimmed afterwards. Below it, what
/// a trim could give back is at most a few MiB, and trimming walks every
/// free chunk of the heap; a typical document grows a worker by under 2 MiB
/// (bench/peak_rss.py), a large PDF or a scanned page by tens of MiB.
pub const TRIM_AFTER_GROWTH_BYTES: u64 = 4 << 20;

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
