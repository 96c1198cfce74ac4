//! The process basics of `/metrics` (the names Prometheus' own clients use): CPU seconds,
//! resident memory, open files and start time, read from `/proc` on Linux; nothing elsewhere.

use std::fmt::Write as _;

/// Clock ticks per second of `/proc/<pid>/stat` times: 100 on every Linux architecture that
/// Rust targets (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// Appends the process metrics to `text`; a value the platform does not tell is left out.
pub(crate) fn encode(text: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        metric(
            text,
            "process_cpu_seconds",
            "counter",
            Some("seconds"),
            "Total user and system CPU time spent in seconds",
            (user + system) / TICKS_PER_SECOND,
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    if let Some(kib) = rss {
        metric(
            text,
            "process_resident_memory_bytes",
            "gauge",
            Some("bytes"),
            "Resident memory size in bytes",
            kib * 1024.0,
        );
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        metric(
            text,
            "process_open_fds",
            "gauge",
            None,
            "Number of open file descriptors",
            entries.count() as f64,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse::<f64>().ok());
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        metric(
            text,
            "process_start_time_seconds",
            "gauge",
            Some("seconds"),
            "Start time of the process since unix epoch in seconds",
            boot + start / TICKS_PER_SECOND,
        );
    }
}

fn metric(text: &mut String, name: &str, kind: &str, unit: Option<&str>, help: &str, value: f64) {
    let sample = if kind == "counter" {
        format!("{name}_total")
    } else {
        name.to_owned()
    };
    let _ = writeln!(text, "# HELP {name} {help}.");
    let _ = writeln!(text, "# TYPE {name} {kind}");
    if let Some(unit) = unit {
        let _ = writeln!(text, "# UNIT {name} {unit}");
    }
    let _ = writeln!(text, "{sample} {value}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_basics_are_there_on_linux() {
        let mut text = String::new();
        super::encode(&mut text);
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_open_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(text.contains(name), "{name} missing from {text}");
            }
        }
    }
}
