//! A bare loop over the small-stanza corpus, for profilers (callgrind, perf) rather than for
//! timing: `codec_loop dec|enc ITERATIONS` decodes (and drops) or encodes every stanza of the
//! "small" group of `interop/corpus/stanzas.jsonl` ITERATIONS times.
//!
//! ```sh
//! cargo build --release -p tether-tests --example codec_loop
//! valgrind --tool=callgrind --toggle-collect='codec_loop::run_*' \
//!     target/release/examples/codec_loop dec 100
//! ```
//!
//! With `--toggle-collect` only the loop is counted; divide the instruction count by
//! 54 × ITERATIONS for instructions per stanza.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value as Json;
use tether_core::binary::{Node, TokenDict, decode, encode};
use tether_tests::interop::{JidMode, node_from_json, repo_root};

fn load(dict: &TokenDict) -> Result<(Vec<Node>, Vec<Bytes>), String> {
    let path = repo_root().join("interop/corpus/stanzas.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut nodes, mut frames) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Json = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if entry["group"] != "small" {
            continue;
        }
        let node = node_from_json(&entry["node"], JidMode::Typed)?;
        let mut out = Vec::new();
        encode(&node, dict, &mut out).map_err(|e| e.to_string())?;
        nodes.push(node);
        frames.push(Bytes::from(out));
    }
    Ok((nodes, frames))
}

#[inline(never)]
fn run_dec(frames: &[Bytes], dict: &TokenDict, iterations: usize) {
    for _ in 0..iterations {
        for frame in frames {
            let _ = black_box(decode(black_box(frame), dict));
        }
    }
}

#[inline(never)]
fn run_enc(nodes: &[Node], dict: &TokenDict, iterations: usize) {
    let mut out = Vec::with_capacity(1 << 16);
    for _ in 0..iterations {
        for node in nodes {
            out.clear();
            let _ = encode(black_box(node), dict, &mut out);
            black_box(&out);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "dec".to_owned());
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let Some(dict) = TokenDict::for_version(3) else {
        eprintln!("no dictionary version 3");
        std::process::exit(1);
    };
    let (nodes, frames) = match load(dict) {
        Ok(corpus) => corpus,
        Err(e) => {
            eprintln!("corpus: {e}");
            std::process::exit(1);
        }
    };
    // One decode first, so that the frames' shared storage exists before the loop.
    for frame in &frames {
        let _ = decode(frame, dict);
    }
    let start = Instant::now();
    match mode.as_str() {
        "enc" => run_enc(&nodes, dict, iterations),
        _ => run_dec(&frames, dict, iterations),
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / (iterations * frames.len()).max(1) as f64;
    println!("{mode}: {per:.1} ns/stanza ({} stanzas)", frames.len());
}
