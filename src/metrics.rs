//! Prometheus text exposition of the server's counters: requests and their
//! latency by route, the queue, the workers and their restarts by cause.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use crate::pool::{Pool, Restart, WorkerState};

/// Latency bucket bounds in seconds: from a cached probe to a document that
/// runs into the default job timeout.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        *self.requests.lock().unwrap().entry((route.to_owned(), status)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap();
        let histogram = latency.entry(route.to_owned()).or_default();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += secs;
    }

    pub fn render(&self, pool: &Pool) -> String {
        let mut out = String::new();
        out.push_str("# HELP docmill_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE docmill_http_requests_total counter\n");
        for ((route, status), count) in self.requests.lock().unwrap().iter() {
            let _ = writeln!(out, "docmill_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}");
        }
        out.push_str("# HELP docmill_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE docmill_http_request_duration_seconds histogram\n");
        for (route, histogram) in self.latency.lock().unwrap().iter() {
            for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.counts.iter()) {
                let _ = writeln!(
                    out,
                    "docmill_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "docmill_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(out, "docmill_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", histogram.sum);
            let _ =
                writeln!(out, "docmill_http_request_duration_seconds_count{{route=\"{route}\"}} {}", histogram.count);
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        gauge(&mut out, "docmill_queue_depth", "Documents waiting for a worker.", pool.queue_depth() as u64);
        gauge(
            &mut out,
            "docmill_queue_capacity",
            "Interactive queue capacity (--queue).",
            pool.config().queue_capacity as u64,
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
        out
    }
}
