//! Differential test of Tether's WABinary codec against the npm build of Baileys (6.17.16, with
//! the dictionary-version-3 token tables passed through its codec options): random nodes from
//! the domain where the two are specified to agree (DESIGN §3.1; the generator is
//! `interop/gen.mjs`) must decode, encode and re-encode identically on both sides.
//!
//! Needs Node.js and `(cd interop && npm ci --ignore-scripts)`; run with
//! `cargo test -p tether-tests --test baileys_codec -- --ignored`. Without the npm package every
//! test fails and says how to install it. `TETHER_INTEROP_SEED` / `TETHER_INTEROP_COUNT` override
//! the seed and the number of nodes.

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::Value as Json;
use tether_core::binary::{Node, TokenDict, decode, encode};
use tether_tests::interop::{
    Baileys, Canon, Generated, JidMode, first_difference, node_from_json, repo_root,
};

const DEFAULT_SEED: u32 = 0x7e7e_2024;
const DEFAULT_COUNT: usize = 2_000;
/// How many failures a test prints in full.
const SHOWN: usize = 5;

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn baileys() -> Baileys {
    Baileys::locate().unwrap_or_else(|e| panic!("{e}"))
}

fn dict() -> &'static TokenDict {
    TokenDict::v3()
}

/// The random nodes, generated once per test binary.
fn generated() -> &'static [Generated] {
    static NODES: OnceLock<Vec<Generated>> = OnceLock::new();
    NODES.get_or_init(|| {
        let seed = env_num("TETHER_INTEROP_SEED", DEFAULT_SEED);
        let count = env_num("TETHER_INTEROP_COUNT", DEFAULT_COUNT);
        let nodes = baileys()
            .generate(seed, count)
            .unwrap_or_else(|e| panic!("generating nodes (seed {seed}): {e}"));
        assert_eq!(
            nodes.len(),
            count,
            "codec.mjs gen returned the wrong number of nodes"
        );
        nodes
    })
}

fn rust_decode(bytes: &[u8]) -> Result<Node, String> {
    decode(&Bytes::copy_from_slice(bytes), dict()).map_err(|e| e.to_string())
}

fn rust_encode(node: &Node) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode(node, dict(), &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn canon_json(json: &Json) -> Canon {
    Canon::from_json(json).unwrap_or_else(|e| panic!("bad interchange node: {e}"))
}

/// Collects failures and panics with the first few and the total.
struct Failures {
    what: &'static str,
    total: usize,
    shown: Vec<String>,
}

impl Failures {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            total: 0,
            shown: Vec::new(),
        }
    }

    fn add(&mut self, index: usize, message: String) {
        self.total += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(format!("node #{index}: {message}"));
        }
    }

    fn check(self, out_of: usize) {
        assert!(
            self.total == 0,
            "{}: {} of {out_of} nodes failed (seed {}); first failures:\n{}",
            self.what,
            self.total,
            env_num("TETHER_INTEROP_SEED", DEFAULT_SEED),
            self.shown.join("\n")
        );
    }
}

fn diff_message(a: &Canon, b: &Canon) -> String {
    first_difference(a, b).unwrap_or_else(|| "differs".to_owned())
}

fn bytes_message(ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| ours.len().min(theirs.len()));
    let from = at.saturating_sub(8);
    format!(
        "bytes differ at offset {at} (lengths {} vs {}): tether …{}… vs baileys …{}…",
        ours.len(),
        theirs.len(),
        hex::encode(&ours[from..ours.len().min(at + 16)]),
        hex::encode(&theirs[from..theirs.len().min(at + 16)])
    )
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn rust_decodes_baileys_encodings_to_the_generated_nodes() {
    let nodes = generated();
    let mut failures = Failures::new("decode Baileys bytes in Rust");
    for (i, g) in nodes.iter().enumerate() {
        match rust_decode(&g.bytes) {
            Ok(node) => {
                let (ours, want) = (Canon::from_node(&node), canon_json(&g.node));
                if ours != want {
                    failures.add(i, diff_message(&ours, &want));
                }
            }
            Err(e) => failures.add(i, format!("decode error: {e}")),
        }
    }
    failures.check(nodes.len());
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn rust_reencodes_baileys_bytes_byte_for_byte() {
    let nodes = generated();
    let mut failures = Failures::new("re-encode Baileys bytes in Rust");
    for (i, g) in nodes.iter().enumerate() {
        match rust_decode(&g.bytes).and_then(|n| rust_encode(&n)) {
            Ok(bytes) if bytes == g.bytes => {}
            Ok(bytes) => failures.add(i, bytes_message(&bytes, &g.bytes)),
            Err(e) => failures.add(i, e),
        }
    }
    failures.check(nodes.len());
}

fn encode_like_baileys(mode: JidMode) {
    let nodes = generated();
    let mut failures = Failures::new(match mode {
        JidMode::Typed => "encode generated nodes (typed JIDs) in Rust",
        JidMode::Strings => "encode generated nodes (JIDs as strings) in Rust",
    });
    for (i, g) in nodes.iter().enumerate() {
        match node_from_json(&g.node, mode).and_then(|n| rust_encode(&n)) {
            Ok(bytes) if bytes == g.bytes => {}
            Ok(bytes) => failures.add(i, bytes_message(&bytes, &g.bytes)),
            Err(e) => failures.add(i, e),
        }
    }
    failures.check(nodes.len());
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn rust_encodes_generated_nodes_with_typed_jids_like_baileys() {
    encode_like_baileys(JidMode::Typed);
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn rust_encodes_generated_nodes_with_jid_strings_like_baileys() {
    encode_like_baileys(JidMode::Strings);
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn baileys_decodes_rust_encodings_to_the_generated_nodes() {
    let nodes = generated();
    let encodings: Vec<Vec<u8>> = nodes
        .iter()
        .map(|g| {
            let node = node_from_json(&g.node, JidMode::Typed).unwrap_or_else(|e| panic!("{e}"));
            rust_encode(&node).unwrap_or_else(|e| panic!("rust encode: {e}"))
        })
        .collect();
    let decoded = baileys()
        .decode(&encodings)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Failures::new("decode Rust bytes in Baileys");
    for (i, (g, theirs)) in nodes.iter().zip(decoded).enumerate() {
        match theirs {
            Ok(json) => {
                let (got, want) = (canon_json(&json), canon_json(&g.node));
                if got != want {
                    failures.add(i, diff_message(&got, &want));
                }
            }
            Err(e) => failures.add(i, format!("Baileys decode error: {e}")),
        }
    }
    failures.check(nodes.len());
}

/// The generated set really covers what the domain promises (so a generator change cannot
/// silently shrink the test).
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn generated_nodes_cover_the_domain() {
    #[derive(Default, Debug)]
    struct Seen {
        nodes: usize,
        max_depth: usize,
        device_jids: usize,
        lid_device_jids: usize,
        group_jids: usize,
        newsletter_jids: usize,
        server_jids: usize,
        non_ascii: usize,
        long_nibble_strings: usize,
        string_content: usize,
        bytes_over_256: usize,
        empty_bytes: usize,
        wide_attr_lists: usize,
        wide_child_lists: usize,
    }
    fn visit(n: &Json, depth: usize, s: &mut Seen) {
        s.nodes += 1;
        s.max_depth = s.max_depth.max(depth);
        let mut strings: Vec<&str> = vec![n["tag"].as_str().unwrap_or_default()];
        let attrs = n["attrs"].as_array().map(Vec::as_slice).unwrap_or_default();
        if attrs.len() > 127 {
            s.wide_attr_lists += 1;
        }
        for pair in attrs {
            strings.extend(
                pair.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str),
            );
        }
        match &n["content"] {
            Json::Array(children) => {
                if children.len() > 255 {
                    s.wide_child_lists += 1;
                }
                for c in children {
                    visit(c, depth + 1, s);
                }
            }
            Json::Object(o) => {
                if let Some(h) = o.get("hex").and_then(Json::as_str) {
                    s.bytes_over_256 += usize::from(h.len() / 2 > 256);
                    s.empty_bytes += usize::from(h.is_empty());
                }
                if let Some(st) = o.get("str").and_then(Json::as_str) {
                    s.string_content += 1;
                    strings.push(st);
                }
            }
            _ => {}
        }
        for st in strings {
            s.non_ascii += usize::from(!st.is_ascii());
            s.long_nibble_strings += usize::from(
                st.len() > 127
                    && st
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.'),
            );
            if let Some((user, server)) = st.split_once('@') {
                s.device_jids += usize::from(server == "s.whatsapp.net" && user.contains(':'));
                s.lid_device_jids += usize::from(server == "lid" && user.contains(':'));
                s.group_jids += usize::from(server == "g.us");
                s.newsletter_jids += usize::from(server == "newsletter");
                s.server_jids += usize::from(user.is_empty());
            }
        }
    }
    let mut seen = Seen::default();
    for g in generated() {
        visit(&g.node, 0, &mut seen);
    }
    let s = &seen;
    let checks = [
        ("nesting depth 4", s.max_depth >= 4),
        ("device JIDs", s.device_jids > 0),
        ("LID device JIDs", s.lid_device_jids > 0),
        ("group JIDs", s.group_jids > 0),
        ("newsletter JIDs", s.newsletter_jids > 0),
        ("server JIDs", s.server_jids > 0),
        ("non-ASCII strings", s.non_ascii > 0),
        (
            "numeric strings too long to pack",
            s.long_nibble_strings > 0,
        ),
        ("string content", s.string_content > 0),
        ("byte content > 256 bytes", s.bytes_over_256 > 0),
        ("empty byte content", s.empty_bytes > 0),
        ("> 127 attributes (LIST_16 header)", s.wide_attr_lists > 0),
        ("> 255 children (LIST_16 list)", s.wide_child_lists > 0),
    ];
    let missing: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    assert!(
        missing.is_empty(),
        "the generated nodes lack: {missing:?} ({seen:?})"
    );
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn generator_is_deterministic_per_seed() {
    let b = baileys();
    let first = b.generate(99, 40).unwrap_or_else(|e| panic!("{e}"));
    let again = b.generate(99, 40).unwrap_or_else(|e| panic!("{e}"));
    let other = b.generate(100, 40).unwrap_or_else(|e| panic!("{e}"));
    let bytes = |v: &[Generated]| v.iter().map(|g| g.bytes.clone()).collect::<Vec<_>>();
    assert_eq!(bytes(&first), bytes(&again), "same seed, different nodes");
    assert_ne!(bytes(&first), bytes(&other), "different seeds, same nodes");
}

/// One binary-node vector of `protocol/test-vectors.md` §1 (copied to tests/data).
struct Vector {
    name: String,
    node: Json,
    bytes: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let path = repo_root().join("tests/data/binary-node-vectors.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Json =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Vector {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                node: v["node"].clone(),
                bytes: hex::decode(v["hex"].as_str().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{e}")),
            }
        })
        .collect()
}

/// Sanity check of the harness: the published vectors (made with the same Baileys build and
/// tables) come out of `codec.mjs` unchanged, and Tether agrees with them.
#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn test_vectors_round_trip_through_baileys_and_rust() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 20,
        "expected the 22 vectors of test-vectors.md §1, found {}",
        vectors.len()
    );
    let b = baileys();
    let nodes: Vec<Json> = vectors.iter().map(|v| v.node.clone()).collect();
    let encoded = b.encode(&nodes).unwrap_or_else(|e| panic!("{e}"));
    let decoded = b
        .decode(&vectors.iter().map(|v| v.bytes.clone()).collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("{e}"));
    for ((v, enc), dec) in vectors.iter().zip(encoded).zip(decoded) {
        let want = canon_json(&v.node);
        let enc = enc.unwrap_or_else(|e| panic!("{}: Baileys encode error: {e}", v.name));
        assert_eq!(
            hex::encode(&enc),
            hex::encode(&v.bytes),
            "{}: Baileys encoding differs from the vector",
            v.name
        );
        let dec = dec.unwrap_or_else(|e| panic!("{}: Baileys decode error: {e}", v.name));
        assert_eq!(
            canon_json(&dec),
            want,
            "{}: Baileys decodes the vector to another node",
            v.name
        );

        let ours =
            rust_decode(&v.bytes).unwrap_or_else(|e| panic!("{}: Rust decode error: {e}", v.name));
        assert_eq!(
            Canon::from_node(&ours),
            want,
            "{}: Rust decodes the vector to another node",
            v.name
        );
        let again = rust_encode(&ours).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            hex::encode(again),
            hex::encode(&v.bytes),
            "{}: Rust re-encoding differs",
            v.name
        );
    }
}
