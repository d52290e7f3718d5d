//! Giving memory freed by a large sweep back to the operating system.
//!
//! glibc's allocator keeps freed memory in its arenas for reuse and hands
//! back only the top of each heap, so after the sweep of a burst of
//! sessions the process would stay at its peak size although the memory
//! is free. `malloc_trim(0)` returns every free page of every arena. Other
//! allocators (musl, jemalloc, mimalloc, macOS, Windows) return memory on
//! their own or have no such call; there this does nothing.

/// Asks the allocator to return free pages to the system (glibc).
///
/// It walks and locks each arena in turn, which can take milliseconds on a
/// large heap, so the sweeper calls it on a blocking thread, and only after
/// a sweep that shrank the store by half.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_freed_memory() {
    // SAFETY: `malloc_trim` takes no pointer and has no precondition; glibc
    // serialises it with every other allocator call.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Does nothing: this allocator returns memory on its own or cannot be asked to.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_freed_memory() {}
