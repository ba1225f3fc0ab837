//! Giving freed memory back to the system once the agent is idle again.
//!
//! Shipping a backlog (an outage's worth of spooled batches, compressed on the way out, read
//! back in turns of several MiB) takes tens of MB for a while. The C allocators keep freed
//! memory for reuse, so without help an agent that once caught up stays at about three times
//! the size of one that never had to (27 MB against 9 MB idle, BENCHMARKS.md). The shipper
//! calls [`release_free_memory`] whenever nothing is in flight after about a MiB was shipped;
//! a trim costs well under a millisecond.
//!
//! The agent's few threads allocate little and rarely at the same time, so the program also
//! asks glibc for one arena ([`use_one_arena`]) instead of one per thread: per-thread arenas
//! each keep their own free pages and their own fragments, which trimming cannot merge.
//!
//! One seam per platform, nothing else here:
//! - glibc (Linux): `malloc_trim(0)` returns the free pages of every arena;
//!   `mallopt(M_ARENA_MAX, 1)`.
//! - Windows: `HeapCompact` on the process heap, which Rust's allocator uses there, coalesces
//!   free blocks and decommits the large ones.
//! - elsewhere: nothing to do.

/// Asks the allocator to return free memory to the system; true when it says it did (Linux)
/// or could (Windows).
pub fn release_free_memory() -> bool {
    platform::release()
}

/// Asks the allocator to serve every thread from one arena, unless `MALLOC_ARENA_MAX` in the
/// environment already says how many; call it before any thread starts. True when it did.
pub fn use_one_arena() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    platform::one_arena()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod platform {
    pub fn release() -> bool {
        // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers
        // and is safe to call from any thread at any time.
        unsafe { libc::malloc_trim(0) == 1 }
    }

    pub fn one_arena() -> bool {
        // SAFETY: mallopt only sets a tuning parameter of the allocator.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
    }
}

#[cfg(windows)]
mod platform {
    use std::ffi::c_void;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetProcessHeap() -> *mut c_void;
        fn HeapCompact(heap: *mut c_void, flags: u32) -> usize;
    }

    pub fn release() -> bool {
        // SAFETY: GetProcessHeap returns the process's default heap (never freed), and
        // HeapCompact with flags 0 serialises with other heap calls on that heap.
        unsafe {
            let heap = GetProcessHeap();
            !heap.is_null() && HeapCompact(heap, 0) != 0
        }
    }

    /// The process heap is already one heap.
    pub fn one_arena() -> bool {
        false
    }
}

#[cfg(not(any(all(target_os = "linux", target_env = "gnu"), windows)))]
mod platform {
    pub fn release() -> bool {
        false
    }

    pub fn one_arena() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_after_a_large_free_is_harmless_and_repeatable() {
        let big: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 256 * 1024]).collect();
        let sum: u64 = big.iter().map(|v| u64::from(v[0])).sum();
        drop(big);
        release_free_memory();
        release_free_memory();
        // Memory handed out after a release is as good as before.
        let again = vec![7u8; 1 << 20];
        assert_eq!(again.iter().map(|&b| u64::from(b)).sum::<u64>(), 7 << 20);
        assert_eq!(sum, (0..64u64).sum::<u64>());
    }
}
