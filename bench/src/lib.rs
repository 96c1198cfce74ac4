//! Shared parts of alknet-http's comparative benchmarks and soak run: the node under test
//! (a real [`alknet_http::Node`] on loopback with a token), the baselines' servers, and one load
//! generator used for ours and for every baseline alike.
//!
//! Nothing here is published: `cargo xtask bench` and `cargo xtask soak` drive it.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod load;
pub mod node;

/// The bearer token of the node under test.
pub const TOKEN: &str = "bench-token-0123456789";

/// The runtime every comparative bench runs ours and its baselines on: two workers, like the
/// machine.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Raises this process's open-file limit to its hard limit (thousands of sockets are held);
/// returns the limit in force.
pub fn raise_open_files() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// Resident memory of this process in bytes (`VmRSS`), and its peak (`VmHWM`).
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
