//! Prometheus text exposition of the server's counters: requests and their
//! latency by route and method, the queue, the workers and their restarts by
//! cause, documents by format (queue wait, analysis time, bytes), the build,
//! and the process's own CPU, memory and descriptors.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::pool::{Histogram, Pool, Restart, WorkerState, LATENCY_BUCKETS};

/// Requests of one route by method label and status.
type ByStatus = BTreeMap<(&'static str, u16), u64>;

pub struct Metrics {
    /// Requests by route, then by method and status.
    requests: Mutex<BTreeMap<String, ByStatus>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics { requests: Mutex::default(), latency: Mutex::default(), started: Instant::now() }
    }
}

/// A method as a label: the standard ones by name, anything else as
/// `other`, so a client cannot grow the label set.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

fn write_histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    let comma = if labels.is_empty() { "" } else { "," };
    for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.counts.iter()) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{comma}le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{comma}le=\"+Inf\"}} {}", histogram.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", histogram.count);
}

impl Metrics {
    /// Counts one request. The label sets are few and fixed (routes are
    /// the router's patterns), so after the first request of a kind this
    /// only finds its entries: nothing is allocated per request.
    pub fn record(&self, route: &str, method: &http::Method, status: u16, elapsed: Duration) {
        let method = method_label(method);
        {
            let mut requests = self.requests.lock().unwrap();
            if !requests.contains_key(route) {
                requests.insert(route.to_owned(), BTreeMap::new());
            }
            let by_status = requests.get_mut(route).expect("inserted above");
            *by_status.entry((method, status)).or_default() += 1;
        }
        let mut latency = self.latency.lock().unwrap();
        match latency.get_mut(route) {
            Some(histogram) => histogram.observe(elapsed.as_secs_f64()),
            None => latency.entry(route.to_owned()).or_default().observe(elapsed.as_secs_f64()),
        }
    }

    /// The metrics text; `answers` is what answers waiting for their
    /// clients hold in memory (`http::answer`) and how many wait for room.
    pub fn render(&self, pool: &Pool, answers: (u64, u64)) -> String {
        let mut out = String::new();
        out.push_str("# HELP docmill_build_info The running build.\n# TYPE docmill_build_info gauge\n");
        let _ = writeln!(out, "docmill_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        out.push_str("# HELP docmill_http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE docmill_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap();
        for ((method, status), count, route) in
            requests.iter().flat_map(|(route, by_status)| by_status.iter().map(move |(key, count)| (key, count, route)))
        {
            let _ = writeln!(
                out,
                "docmill_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        drop(requests);
        out.push_str("# HELP docmill_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE docmill_http_request_duration_seconds histogram\n");
        for (route, histogram) in self.latency.lock().unwrap().iter() {
            write_histogram(
                &mut out,
                "docmill_http_request_duration_seconds",
                &format!("route=\"{route}\""),
                histogram,
            );
        }
        let formats = pool.formats.snapshot();
        out.push_str("# HELP docmill_queue_wait_seconds Time documents waited for a worker, by format.\n");
        out.push_str("# TYPE docmill_queue_wait_seconds histogram\n");
        for (format, figures) in &formats {
            write_histogram(&mut out, "docmill_queue_wait_seconds", &format!("format=\"{format}\""), &figures.queue);
        }
        out.push_str("# HELP docmill_analysis_seconds Time workers spent analysing documents, by format.\n");
        out.push_str("# TYPE docmill_analysis_seconds histogram\n");
        for (format, figures) in &formats {
            write_histogram(&mut out, "docmill_analysis_seconds", &format!("format=\"{format}\""), &figures.analysis);
        }
        out.push_str("# HELP docmill_analysed_bytes_total Bytes of documents analysed, by format.\n");
        out.push_str("# TYPE docmill_analysed_bytes_total counter\n");
        for (format, figures) in &formats {
            let _ = writeln!(out, "docmill_analysed_bytes_total{{format=\"{format}\"}} {}", figures.bytes);
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        gauge(&mut out, "docmill_queue_depth", "Documents waiting for a worker.", pool.queue_depth() as u64);
        gauge(
            &mut out,
            "docmill_answer_memory_bytes",
            "Bytes of answers held in memory for their clients (a budget of 256 MiB).",
            answers.0,
        );
        gauge(
            &mut out,
            "docmill_answers_waiting",
            "Batch documents and pages of job results waiting for room in the answer memory budget.",
            answers.1,
        );
        gauge(
            &mut out,
            "docmill_queue_capacity",
            "Interactive queue capacity (--queue).",
            pool.config().queue_capacity as u64,
        );
        gauge(
            &mut out,
            "docmill_runtime_threads",
            "Threads serving HTTP (--runtime-threads).",
            tokio::runtime::Handle::current().metrics().num_workers() as u64,
        );
        let workers = pool.workers();
        out.push_str("# HELP docmill_workers Worker processes by state.\n# TYPE docmill_workers gauge\n");
        for state in WorkerState::ALL {
            let n = workers.iter().filter(|w| w.state == state).count();
            let _ = writeln!(out, "docmill_workers{{state=\"{}\"}} {n}", state.as_str());
        }
        out.push_str("# HELP docmill_worker_restarts_total Worker replacements by cause.\n");
        out.push_str("# TYPE docmill_worker_restarts_total counter\n");
        for restart in Restart::ALL {
            let _ = writeln!(
                out,
                "docmill_worker_restarts_total{{cause=\"{}\"}} {}",
                restart.as_str(),
                pool.restarts.get(restart)
            );
        }
        let counters = &pool.counters;
        out.push_str("# HELP docmill_documents_total Documents analysed by outcome.\n");
        out.push_str("# TYPE docmill_documents_total counter\n");
        let _ = writeln!(
            out,
            "docmill_documents_total{{outcome=\"report\"}} {}",
            counters.documents_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "docmill_documents_total{{outcome=\"error\"}} {}",
            counters.documents_failed.load(Ordering::Relaxed)
        );
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            &mut out,
            "docmill_workers_spawned_total",
            "Worker processes forked.",
            counters.spawned.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "docmill_tasks_sent_ahead_total",
            "Documents sent to a worker before it answered the one it was on.",
            counters.sent_ahead.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "docmill_tasks_taken_back_total",
            "Documents sent ahead that were queued again for any worker because the one before them ran long.",
            counters.taken_back.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "docmill_worker_boot_failures_total",
            "Workers that failed at boot.",
            counters.boot_failures.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "docmill_log_lines_dropped_total",
            "Log lines dropped because stderr was slow.",
            crate::log::dropped(),
        );
        render_process(&mut out, self.started);
        out
    }
}

/// The `process_*` series Prometheus clients conventionally export, for the
/// server process itself (not its workers), from `/proc/self`.
fn render_process(out: &mut String, started: Instant) {
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as u64;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 12th and 13th of them.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let jiffies: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut pages = statm.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
    let (virtual_pages, resident_pages) = (pages.next().unwrap_or(0), pages.next().unwrap_or(0));
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|dir| dir.count() as u64).unwrap_or(0);
    let max_fds =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map(|(soft, _)| soft).unwrap_or(0);
    let start_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| now.as_secs_f64() - started.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    let _ = writeln!(
        out,
        "# HELP docmill_process_cpu_seconds_total CPU time of the server process.\n# TYPE docmill_process_cpu_seconds_total counter\n\
         docmill_process_cpu_seconds_total {}",
        jiffies as f64 / ticks
    );
    let _ = writeln!(
        out,
        "# HELP docmill_process_resident_memory_bytes Resident memory of the server process.\n\
         # TYPE docmill_process_resident_memory_bytes gauge\ndocmill_process_resident_memory_bytes {}",
        resident_pages * page_size
    );
    let _ = writeln!(
        out,
        "# HELP docmill_process_virtual_memory_bytes Virtual memory of the server process.\n\
         # TYPE docmill_process_virtual_memory_bytes gauge\ndocmill_process_virtual_memory_bytes {}",
        virtual_pages * page_size
    );
    let _ = writeln!(
        out,
        "# HELP docmill_process_open_fds Open descriptors of the server process.\n# TYPE docmill_process_open_fds gauge\n\
         docmill_process_open_fds {open_fds}"
    );
    let _ = writeln!(
        out,
        "# HELP docmill_process_max_fds Descriptor limit of the server process.\n# TYPE docmill_process_max_fds gauge\n\
         docmill_process_max_fds {max_fds}"
    );
    let _ = writeln!(
        out,
        "# HELP docmill_process_start_time_seconds When the server started, in seconds since the epoch.\n\
         # TYPE docmill_process_start_time_seconds gauge\ndocmill_process_start_time_seconds {start_time:.3}"
    );
}
