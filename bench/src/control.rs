//! `/healthz` latency while every worker is saturated by real documents, for
//! one or more builds of docmill in one run: per round and per server, 8
//! clients keep both workers busy with the corpus while an outside prober
//! (`docmill-bench probe`, a process of its own) sends 2,000 sequential
//! probes, 1 ms apart. The servers take turns going first; medians over the
//! rounds are printed.
//!
//! Run: `docmill-bench healthz "BINARY [SERVE FLAG...]"...`.

use crate::{median, Server, ROUNDS};

pub fn run(specs: &[String]) {
    let corpus = crate::suite::corpus_bodies();
    assert!(!corpus.is_empty(), "../shared/corpus not found: nothing to saturate the workers with");
    let servers: Vec<Server> =
        specs.iter().enumerate().map(|(i, spec)| Server::from_spec(spec, &format!("healthz{i}"))).collect();
    let mut p50s = vec![Vec::new(); servers.len()];
    let mut p99s = vec![Vec::new(); servers.len()];
    for round in 0..ROUNDS {
        eprintln!("round {round}");
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let (p50, p99) = crate::suite::probe_saturated(&servers[i].addr, &corpus);
            p50s[i].push(p50);
            p99s[i].push(p99);
        }
    }
    println!(
        "docmill-bench healthz: GET /healthz from an outside prober while 8 clients saturate 2 workers with the corpus"
    );
    println!("({ROUNDS} rounds of 2,000 probes; medians, and each round's p99)");
    println!("| server | p50 ms | p99 ms | p99 of each round, ms |");
    println!("| --- | ---: | ---: | --- |");
    for (i, spec) in specs.iter().enumerate() {
        let rounds: Vec<String> = p99s[i].iter().map(|p99| format!("{p99:.2}")).collect();
        println!(
            "| `{spec}` | {:.3} | {:.2} | {} |",
            median(p50s[i].clone()),
            median(p99s[i].clone()),
            rounds.join(", ")
        );
    }
}
