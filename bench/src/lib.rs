//! Shared parts of alknet-http's comparative benchmarks and soak run: the node under test
//! (a real [`alknet_http::Node`] on loopback with a token), the baselines' servers, and one load
//! generator used for ours and for every baseline alike.
//!
//! Nothing here is published: `cargo xtask bench` and `cargo xtask soak` drive it.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod call_load;
pub mod cluster;
pub mod interleaved;
pub mod load;
pub mod modes;
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

/// The percentiles of a forwarded path against its direct baseline, in µs, as the JSON
/// fields `forwarded_p50_us` … `direct_p99_us` and `added_p50_us` (the samples get sorted).
pub fn added_latency(
    calls: usize,
    forwarded: &mut [std::time::Duration],
    direct: &mut [std::time::Duration],
) -> serde_json::Map<String, serde_json::Value> {
    fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted
            .get(index)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    }
    forwarded.sort();
    direct.sort();
    let mut fields = serde_json::Map::new();
    fields.insert("calls".into(), calls.into());
    for (name, samples) in [("forwarded", &*forwarded), ("direct", &*direct)] {
        for (label, p) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            fields.insert(format!("{name}_{label}_us"), percentile(samples, p).into());
        }
    }
    let added = percentile(forwarded, 0.5) - percentile(direct, 0.5);
    fields.insert("added_p50_us".into(), added.into());
    fields
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
