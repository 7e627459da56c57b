//! Binary node codec throughput, Tether vs Baileys, side by side in one run.
//!
//! `cargo bench -p tether-tests --bench codec_vs_baileys`
//!
//! Reads the corpus `interop/corpus/stanzas.jsonl` (realistic stanzas; group "small" = everyday
//! stanzas, "large" = a 64 KiB media binary), measures Tether's `encode` and `decode` over it,
//! then runs `node interop/codec.mjs bench` on the same file (Baileys 6.17.16 with the v3 token
//! tables) and prints one table with the ratios. It also checks that Tether's encoding of every
//! corpus stanza is byte-identical to Baileys'.
//!
//! The whole comparison runs `TETHER_BENCH_ROUNDS` times (default 3), alternating Tether and
//! Baileys, and each figure is the best round: on a shared 2-core machine that filters out load
//! from other processes without favouring either side. Other knobs: `TETHER_BENCH_SECONDS`
//! (time per Tether measurement, default 1), `TETHER_BENCH_BAILEYS_ITERS` (Baileys' passes over
//! the small group per round, default 1500), `TETHER_BENCH_BAILEYS_ITERS_LARGE` (default 300).
//! Without the npm package (`(cd interop && npm ci --ignore-scripts)`) only Tether's numbers are
//! printed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value as Json;
use tether_core::binary::{Node, TokenDict, decode, encode};
use tether_tests::bench::env_or;
use tether_tests::interop::{Baileys, JidMode, node_from_json, repo_root};

struct Group {
    name: String,
    nodes: Vec<Node>,
    json: Vec<Json>,
    encoded: Vec<Bytes>,
}

impl Group {
    fn bytes_per_pass(&self) -> usize {
        self.encoded.iter().map(Bytes::len).sum()
    }
}

#[derive(Clone, Copy)]
struct Stats {
    ns_per_node: f64,
    mb_per_s: f64,
}

fn load_corpus(dict: &TokenDict) -> Result<Vec<Group>, String> {
    let path = repo_root().join("interop/corpus/stanzas.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut groups: Vec<Group> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Json =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = entry["group"].as_str().unwrap_or("all").to_owned();
        let node = node_from_json(&entry["node"], JidMode::Typed)?;
        let mut out = Vec::new();
        encode(&node, dict, &mut out).map_err(|e| format!("{}: {e}", entry["name"]))?;
        let idx = match groups.iter().position(|g| g.name == name) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    name,
                    nodes: Vec::new(),
                    json: Vec::new(),
                    encoded: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[idx];
        group.nodes.push(node);
        group.json.push(entry["node"].clone());
        group.encoded.push(Bytes::from(out));
    }
    Ok(groups)
}

/// Runs `pass` repeatedly for about `target` (after a warm-up) and returns per-node stats.
fn measure(group: &Group, target: Duration, mut pass: impl FnMut()) -> Stats {
    let warm = Instant::now();
    let mut warm_passes = 0u64;
    while warm.elapsed() < target / 10 || warm_passes < 3 {
        pass();
        warm_passes += 1;
    }
    let per_pass = warm.elapsed().as_secs_f64() / warm_passes as f64;
    let passes = ((target.as_secs_f64() / per_pass) as u64).max(3);
    let start = Instant::now();
    for _ in 0..passes {
        pass();
    }
    let secs = start.elapsed().as_secs_f64();
    Stats {
        ns_per_node: secs * 1e9 / (passes as f64 * group.nodes.len() as f64),
        mb_per_s: group.bytes_per_pass() as f64 * passes as f64 / secs / 1e6,
    }
}

fn tether_stats(group: &Group, dict: &TokenDict, target: Duration) -> (Stats, Stats) {
    let mut out = Vec::with_capacity(group.bytes_per_pass());
    let enc = measure(group, target, || {
        for node in &group.nodes {
            out.clear();
            let _ = encode(black_box(node), dict, &mut out);
            black_box(&out);
        }
    });
    let dec = measure(group, target, || {
        for bytes in &group.encoded {
            let _ = black_box(decode(black_box(bytes), dict));
        }
    });
    (enc, dec)
}

fn baileys_stats(result: &Json, group: &str, dir: &str) -> Option<Stats> {
    let s = &result["groups"][group][dir];
    Some(Stats {
        ns_per_node: s["ns_per_node"].as_f64()?,
        mb_per_s: s["mb_per_s"].as_f64()?,
    })
}

/// Counts corpus stanzas whose Tether encoding equals Baileys' byte for byte.
fn identical_encodings(baileys: &Baileys, groups: &[Group]) -> Result<(usize, usize), String> {
    let json: Vec<Json> = groups.iter().flat_map(|g| g.json.iter().cloned()).collect();
    let ours: Vec<&Bytes> = groups.iter().flat_map(|g| g.encoded.iter()).collect();
    let theirs = baileys.encode(&json)?;
    let same = ours
        .iter()
        .zip(&theirs)
        .filter(|(o, t)| t.as_ref().is_ok_and(|t| t.as_slice() == o.as_ref()))
        .count();
    Ok((same, ours.len()))
}

/// Keeps the faster of two measurements (the minimum over rounds filters out load from other
/// processes on a shared machine).
fn best(a: Option<Stats>, b: Stats) -> Stats {
    match a {
        Some(a) if a.ns_per_node <= b.ns_per_node => a,
        _ => b,
    }
}

fn main() {
    let Some(dict) = TokenDict::for_version(3) else {
        eprintln!("no dictionary version 3");
        std::process::exit(1);
    };
    let groups = match load_corpus(dict) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("corpus: {e}");
            std::process::exit(1);
        }
    };
    let target = Duration::from_secs_f64(env_or::<f64>("TETHER_BENCH_SECONDS", 1.0));
    let rounds = env_or::<usize>("TETHER_BENCH_ROUNDS", 3).max(1);
    let small_iters = env_or::<u64>("TETHER_BENCH_BAILEYS_ITERS", 1500).to_string();
    let large_iters = env_or::<u64>("TETHER_BENCH_BAILEYS_ITERS_LARGE", 300).to_string();
    let corpus = repo_root().join("interop/corpus/stanzas.jsonl");
    let baileys = Baileys::locate();

    // [group][encode, decode], best over the rounds.
    let mut tether: Vec<[Option<Stats>; 2]> = vec![[None, None]; groups.len()];
    let mut theirs: Vec<[Option<Stats>; 2]> = vec![[None, None]; groups.len()];
    let mut baileys_error = None;
    let mut versions = String::from("(not run)");
    for _ in 0..rounds {
        for (g, best_so_far) in groups.iter().zip(&mut tether) {
            let (enc, dec) = tether_stats(g, dict, target);
            best_so_far[0] = Some(best(best_so_far[0], enc));
            best_so_far[1] = Some(best(best_so_far[1], dec));
        }
        let run = baileys.as_ref().map_err(Clone::clone).and_then(|b| {
            b.bench(
                &corpus,
                &["--iters", &small_iters, "--iters-large", &large_iters],
            )
        });
        match run {
            Ok(t) => {
                versions = format!(
                    "{} on Node.js {}",
                    t["version"].as_str().unwrap_or("?"),
                    t["node"].as_str().unwrap_or("?")
                );
                for (g, best_so_far) in groups.iter().zip(&mut theirs) {
                    for (i, dir) in ["encode", "decode"].into_iter().enumerate() {
                        if let Some(s) = baileys_stats(&t, &g.name, dir) {
                            best_so_far[i] = Some(best(best_so_far[i], s));
                        }
                    }
                }
            }
            Err(e) => {
                baileys_error = Some(e);
                break;
            }
        }
    }

    println!("Binary node codec: Tether vs Baileys {versions}; best of {rounds} rounds");
    println!();
    println!(
        "| group | stanzas | bytes | direction | Tether ns/stanza | Tether MB/s | Baileys ns/stanza | Baileys MB/s | ratio |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for ((g, ours), theirs) in groups.iter().zip(&tether).zip(&theirs) {
        for (i, dir) in ["encode", "decode"].into_iter().enumerate() {
            let Some(o) = ours[i] else { continue };
            let (b_ns, b_mb, ratio) = match theirs[i] {
                Some(t) => (
                    format!("{:.0}", t.ns_per_node),
                    format!("{:.1}", t.mb_per_s),
                    format!("{:.1}×", t.ns_per_node / o.ns_per_node),
                ),
                None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
            };
            println!(
                "| {} | {} | {} | {dir} | {:.0} | {:.1} | {b_ns} | {b_mb} | {ratio} |",
                g.name,
                g.nodes.len(),
                g.bytes_per_pass(),
                o.ns_per_node,
                o.mb_per_s
            );
        }
    }
    println!();
    match (&baileys, &baileys_error) {
        (_, Some(e)) | (Err(e), None) => println!("Baileys side not run: {e}"),
        (Ok(b), None) => match identical_encodings(b, &groups) {
            Ok((same, total)) => {
                println!("Tether's encoding equals Baileys' for {same} of {total} corpus stanzas.")
            }
            Err(e) => println!("Byte comparison with Baileys failed: {e}"),
        },
    }
}
