//! Tether's binary node codec vs whatsapp-rust's `wacore-binary` 0.7, side by side in one run.
//!
//! `cargo bench --manifest-path bench-compare/Cargo.toml`
//!
//! Same corpus as `tests/benches/codec_vs_baileys.rs` (`interop/corpus/stanzas.jsonl`). Both
//! encoders write into a reused `Vec`; Tether decodes into its owned `Node` (byte content shares
//! the input `Bytes`), wacore is measured both with its borrowed `unmarshal_ref` and with
//! `unmarshal_ref(..).to_owned()`. It also reports how often each codec re-encodes Baileys'
//! canonical bytes byte for byte: on the corpus, and on the 2,000 random nodes of the Baileys
//! differential test when the npm package is installed (`(cd interop && npm ci --ignore-scripts)`).
//!
//! `TETHER_BENCH_SECONDS` sets the time per measurement (default 1), `TETHER_BENCH_ROUNDS` the
//! number of rounds (default 3; each figure is the best round).

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value as Json;
use tether_core::binary::{TokenDict, decode, encode};
use tether_tests::interop::{Baileys, JidMode, node_from_json, repo_root};
use wacore_binary::{
    Attrs, Jid as WaJid, Node as WaNode, NodeContent, NodeValue, marshal_ref_to_vec, marshal_to_vec,
};

fn wa_value(s: &str) -> NodeValue {
    if s.contains('@')
        && let Ok(jid) = WaJid::from_str(s)
    {
        return NodeValue::Jid(jid);
    }
    NodeValue::String(s.into())
}

/// Interchange JSON -> wacore node (JID-shaped attribute values as typed JIDs, like Tether's
/// `JidMode::Typed`; wacore has no JID content, so string content stays a string).
fn wa_node(json: &Json) -> Result<WaNode, String> {
    let tag = json["tag"].as_str().ok_or("no tag")?.to_owned();
    let mut attrs = Attrs::new();
    for pair in json["attrs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (k, v) = (
            pair[0].as_str().ok_or("bad key")?,
            pair[1].as_str().ok_or("bad value")?,
        );
        attrs.push(k.to_owned(), wa_value(v));
    }
    let content = match &json["content"] {
        Json::Null => None,
        Json::Array(children) => Some(NodeContent::Nodes(
            children.iter().map(wa_node).collect::<Result<_, _>>()?,
        )),
        Json::Object(o) => match (
            o.get("hex").and_then(Json::as_str),
            o.get("str").and_then(Json::as_str),
        ) {
            (Some(h), _) => Some(NodeContent::Bytes(decode_hex(h)?)),
            (None, Some(s)) => Some(NodeContent::String(s.into())),
            _ => return Err("bad content".to_owned()),
        },
        other => return Err(format!("bad content {other}")),
    };
    Ok(WaNode::new(tag, attrs, content))
}

fn decode_hex(h: &str) -> Result<Vec<u8>, String> {
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| "bad hex".to_owned())
        })
        .collect()
}

struct Group {
    name: String,
    tether: Vec<tether_core::binary::Node>,
    wacore: Vec<WaNode>,
    /// Tether's (= Baileys') encodings.
    encoded: Vec<Bytes>,
}

fn load(dict: &TokenDict) -> Result<Vec<Group>, String> {
    let path = repo_root().join("interop/corpus/stanzas.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut groups: Vec<Group> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Json = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let name = entry["group"].as_str().unwrap_or("all").to_owned();
        let node = node_from_json(&entry["node"], JidMode::Typed)?;
        let mut out = Vec::new();
        encode(&node, dict, &mut out).map_err(|e| e.to_string())?;
        let wa = wa_node(&entry["node"])?;
        let idx = match groups.iter().position(|g| g.name == name) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    name,
                    tether: Vec::new(),
                    wacore: Vec::new(),
                    encoded: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[idx].tether.push(node);
        groups[idx].wacore.push(wa);
        groups[idx].encoded.push(Bytes::from(out));
    }
    Ok(groups)
}

/// ns per stanza of `pass` (one pass = `per_pass` stanzas), after a warm-up.
fn measure(per_pass: usize, target: Duration, mut pass: impl FnMut()) -> f64 {
    let warm = Instant::now();
    let mut n = 0u64;
    while warm.elapsed() < target / 10 || n < 3 {
        pass();
        n += 1;
    }
    let passes = ((target.as_secs_f64() / (warm.elapsed().as_secs_f64() / n as f64)) as u64).max(3);
    let start = Instant::now();
    for _ in 0..passes {
        pass();
    }
    start.elapsed().as_secs_f64() * 1e9 / (passes as f64 * per_pass as f64)
}

/// wacore: decode Baileys' bytes and re-encode; true if byte-identical (its encoder writes a
/// leading flags byte, which is skipped).
fn wacore_reencodes(bytes: &[u8]) -> bool {
    let Ok(node) = wacore_binary::marshal::unmarshal_ref(bytes) else {
        return false;
    };
    let mut out = Vec::new();
    marshal_ref_to_vec(&node, &mut out).is_ok() && out.get(1..) == Some(bytes)
}

fn tether_reencodes(bytes: &[u8], dict: &TokenDict) -> bool {
    let Ok(node) = decode(&Bytes::copy_from_slice(bytes), dict) else {
        return false;
    };
    let mut out = Vec::new();
    encode(&node, dict, &mut out).is_ok() && out == bytes
}

fn main() {
    let Some(dict) = TokenDict::for_version(3) else {
        eprintln!("no dictionary version 3");
        std::process::exit(1);
    };
    let groups = match load(dict) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("corpus: {e}");
            std::process::exit(1);
        }
    };
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let target = Duration::from_secs_f64(env("TETHER_BENCH_SECONDS", 1.0));
    let rounds = env("TETHER_BENCH_ROUNDS", 3.0).max(1.0) as usize;

    println!(
        "Binary node codec: Tether vs wacore-binary 0.7.0 (default-features = false); best of {rounds} rounds"
    );
    println!();
    println!("| group | stanzas | direction | Tether ns/stanza | wacore ns/stanza | ratio |");
    println!("|---|---:|---|---:|---:|---:|");
    for g in &groups {
        let n = g.tether.len();
        let mut out = Vec::with_capacity(1 << 17);
        let mut t_enc = f64::INFINITY;
        let mut w_enc = f64::INFINITY;
        let mut t_dec = f64::INFINITY;
        let mut w_dec = f64::INFINITY;
        let mut w_dec_owned = f64::INFINITY;
        // Best of `rounds`, alternating the two codecs, to filter out load from other processes.
        for _ in 0..rounds {
            t_enc = t_enc.min(measure(n, target, || {
                for node in &g.tether {
                    out.clear();
                    let _ = encode(black_box(node), dict, &mut out);
                    black_box(&out);
                }
            }));
            w_enc = w_enc.min(measure(n, target, || {
                for node in &g.wacore {
                    out.clear();
                    let _ = marshal_to_vec(black_box(node), &mut out);
                    black_box(&out);
                }
            }));
            t_dec = t_dec.min(measure(n, target, || {
                for b in &g.encoded {
                    let _ = black_box(decode(black_box(b), dict));
                }
            }));
            w_dec = w_dec.min(measure(n, target, || {
                for b in &g.encoded {
                    let _ = black_box(wacore_binary::marshal::unmarshal_ref(black_box(b)));
                }
            }));
            w_dec_owned = w_dec_owned.min(measure(n, target, || {
                for b in &g.encoded {
                    let _ = black_box(
                        wacore_binary::marshal::unmarshal_ref(black_box(b)).map(|r| r.to_owned()),
                    );
                }
            }));
        }
        for (dir, t, w) in [
            ("encode", t_enc, w_enc),
            ("decode (wacore borrowed `unmarshal_ref`)", t_dec, w_dec),
            ("decode (wacore owned `.to_owned()`)", t_dec, w_dec_owned),
        ] {
            println!(
                "| {} | {n} | {dir} | {t:.0} | {w:.0} | {:.2}× |",
                g.name,
                w / t
            );
        }
    }

    let corpus: Vec<&Bytes> = groups.iter().flat_map(|g| g.encoded.iter()).collect();
    let count = |f: &dyn Fn(&[u8]) -> bool, set: &[&[u8]]| set.iter().filter(|b| f(b)).count();
    let corpus_slices: Vec<&[u8]> = corpus.iter().map(|b| b.as_ref()).collect();
    println!();
    println!(
        "Canonical re-encoding of the corpus (decode then encode gives the same bytes): Tether {}/{n}, wacore {}/{n}",
        count(&|b| tether_reencodes(b, dict), &corpus_slices),
        count(&wacore_reencodes, &corpus_slices),
        n = corpus_slices.len()
    );
    match Baileys::locate().and_then(|b| b.generate(0x7e7e_2024, 2_000)) {
        Ok(random) => {
            let slices: Vec<&[u8]> = random.iter().map(|g| g.bytes.as_slice()).collect();
            let n = slices.len() as f64;
            let t = count(&|b| tether_reencodes(b, dict), &slices) as f64;
            let w = count(&wacore_reencodes, &slices) as f64;
            println!(
                "Canonical re-encoding of the {n} random Baileys-encoded nodes of the differential test: Tether {:.1} %, wacore {:.1} %",
                100.0 * t / n,
                100.0 * w / n
            );
        }
        Err(e) => println!("Random-node re-encoding not measured: {e}"),
    }
}
