//! Keeping freed activation buffers in the process.
//!
//! A training step allocates and frees the same large buffers (activations,
//! gradients, im2col scratch: up to ~13 MB each) every step. glibc's malloc
//! hands a freed block above its dynamic thresholds back to the kernel at
//! once, so the next step page-faults every page in again (and freeing
//! mapped memory on a multi-threaded process interrupts the other cores to
//! flush their TLBs). Fixing the two thresholds — blocks up to 32 MiB (the
//! largest glibc allows) come from the heap, and the heap's free top is kept
//! up to 1 GiB — keeps them for reuse. Measured on the narrow ResNet's step
//! (`bench train`): about half the system time. Other C libraries: nothing
//! to do.

/// Sets glibc's malloc thresholds (above); called once at start-up.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any thread of ours starts and takes plain integer arguments.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
