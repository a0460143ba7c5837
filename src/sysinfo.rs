//! Process and machine readings for benchmarks: memory and load.

/// Resident memory now and at its peak, in MiB (Linux; NaN elsewhere).
pub fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Let glibc keep freed blocks of up to 64 MiB on the heap instead of returning each to the
/// kernel. Every CPU tensor op allocates its output afresh; with glibc's defaults a run of
/// same-sized multi-MiB outputs can be mapped, faulted in page by page and unmapped again each
/// time, which nearly halved the pooled search's throughput (docs/benchmarks.md, "Code
/// choices"). Call once at startup, before threads start allocating.
pub fn keep_freed_tensor_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator thresholds; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

/// Let a closed pipe end the process quietly, as other command-line tools do: Rust ignores
/// SIGPIPE, so `duskmatch info | head` panicked on the next print instead.
pub fn quiet_on_closed_pipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: restoring the default disposition of one signal at startup, before other threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
