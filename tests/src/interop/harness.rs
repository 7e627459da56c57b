//! Runs `node interop/codec.mjs <mode>` and exchanges JSON lines with it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use serde_json::{Value as Json, json};

/// How to install what the harness needs.
pub const INSTALL_HINT: &str = "(cd interop && npm ci --ignore-scripts)";

/// The repository root (the parent of this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// A random node generated and encoded by Baileys.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The node in interchange JSON, as generated.
    pub node: Json,
    /// Baileys' encoding of it (no flags byte).
    pub bytes: Vec<u8>,
}

/// Handle on the Baileys codec harness.
#[derive(Clone, Debug)]
pub struct Baileys {
    root: PathBuf,
    node: String,
}

impl Baileys {
    /// Finds the harness; the error says how to install what is missing.
    ///
    /// The Node.js executable is `$NODE` if set, else `node` on the `PATH`.
    pub fn locate() -> Result<Self, String> {
        let root = repo_root();
        let script = root.join("interop/codec.mjs");
        if !script.is_file() {
            return Err(format!("{} is missing", script.display()));
        }
        let package = root.join("interop/node_modules/@whiskeysockets/baileys/package.json");
        if !package.is_file() {
            return Err(format!(
                "the Baileys npm package is not installed ({} is missing); install it with: {INSTALL_HINT}",
                package.display()
            ));
        }
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
        match Command::new(&node).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!(
                    "`{node} --version` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "cannot run `{node}` (Node.js is needed for the Baileys harness): {e}"
                ));
            }
        }
        Ok(Self { root, node })
    }

    /// The Node.js executable.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The repository root this harness runs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs `codec.mjs` with `args`, feeding `input` on stdin; returns stdout.
    pub fn run(&self, args: &[&str], input: String) -> Result<String, String> {
        let mut child = Command::new(&self.node)
            .arg(self.root.join("interop/codec.mjs"))
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.node))?;
        let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
        // Write from another thread so a large output cannot block against a large input.
        let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
        let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let err_reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .ok_or("no stdout pipe")?
            .read_to_string(&mut stdout)
            .map_err(|e| format!("reading codec.mjs output: {e}"))?;
        let status = child
            .wait()
            .map_err(|e| format!("waiting for codec.mjs: {e}"))?;
        let stderr = err_reader.join().unwrap_or_default();
        match writer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) if !status.success() => {
                return Err(format!(
                    "codec.mjs {args:?} failed ({status}), stdin: {e}; stderr:\n{stderr}"
                ));
            }
            Ok(Err(e)) => return Err(format!("writing to codec.mjs: {e}")),
            Err(_) => return Err("stdin writer thread panicked".to_owned()),
        }
        if !status.success() {
            let hint = if status.code() == Some(3) {
                format!("\ninstall it with: {INSTALL_HINT}")
            } else {
                String::new()
            };
            return Err(format!(
                "codec.mjs {args:?} failed ({status}):\n{stderr}{hint}"
            ));
        }
        Ok(stdout)
    }

    /// Runs a line-mapping mode (`decode`, `encode`): one output line per input line.
    fn map_lines(&self, mode: &str, lines: Vec<Json>) -> Result<Vec<Json>, String> {
        let count = lines.len();
        let mut input = String::new();
        for l in lines {
            input.push_str(&l.to_string());
            input.push('\n');
        }
        let out = parse_lines(&self.run(&[mode], input)?)?;
        if out.len() != count {
            return Err(format!(
                "codec.mjs {mode}: {count} lines in, {} out",
                out.len()
            ));
        }
        Ok(out)
    }

    /// `count` random nodes from `seed`, generated and encoded by Baileys.
    pub fn generate(&self, seed: u32, count: usize) -> Result<Vec<Generated>, String> {
        let out = self.run(
            &[
                "gen",
                "--seed",
                &seed.to_string(),
                "--count",
                &count.to_string(),
            ],
            String::new(),
        )?;
        parse_lines(&out)?
            .into_iter()
            .map(|mut line| {
                let hex = line
                    .get("hex")
                    .and_then(Json::as_str)
                    .ok_or("gen line without \"hex\"")?;
                let bytes = hex::decode(hex).map_err(|e| format!("gen: bad hex: {e}"))?;
                let node = line
                    .get_mut("node")
                    .map(Json::take)
                    .ok_or("gen line without \"node\"")?;
                Ok(Generated { node, bytes })
            })
            .collect()
    }

    /// Decodes each encoding (no flags byte) with Baileys: the interchange node, or Baileys'
    /// error message.
    pub fn decode(&self, encodings: &[Vec<u8>]) -> Result<Vec<Result<Json, String>>, String> {
        let lines = encodings
            .iter()
            .map(|b| json!({ "hex": hex::encode(b) }))
            .collect();
        Ok(self
            .map_lines("decode", lines)?
            .into_iter()
            .map(|mut l| field(&mut l, "node"))
            .collect())
    }

    /// Encodes each interchange node with Baileys (no flags byte), or returns Baileys' error.
    pub fn encode(&self, nodes: &[Json]) -> Result<Vec<Result<Vec<u8>, String>>, String> {
        let lines = nodes.iter().map(|n| json!({ "node": n })).collect();
        Ok(self
            .map_lines("encode", lines)?
            .into_iter()
            .map(|mut l| {
                let hex = field(&mut l, "hex")?;
                hex::decode(hex.as_str().ok_or("\"hex\" is not a string")?)
                    .map_err(|e| e.to_string())
            })
            .collect())
    }

    /// Runs `codec.mjs bench` on a corpus file: Baileys' timings as JSON.
    pub fn bench(&self, corpus: &Path, extra_args: &[&str]) -> Result<Json, String> {
        let corpus = corpus.to_string_lossy();
        let mut args = vec!["bench", "--corpus", &corpus];
        args.extend_from_slice(extra_args);
        let out = self.run(&args, String::new())?;
        serde_json::from_str(out.trim())
            .map_err(|e| format!("bench output is not JSON: {e}: {out}"))
    }
}

fn field(line: &mut Json, name: &str) -> Result<Json, String> {
    if let Some(v) = line.get_mut(name) {
        return Ok(v.take());
    }
    Err(line
        .get("error")
        .and_then(Json::as_str)
        .map_or_else(|| format!("unexpected line: {line}"), str::to_owned))
}

fn parse_lines(out: &str) -> Result<Vec<Json>, String> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| format!("codec.mjs printed a non-JSON line ({e}): {l}"))
        })
        .collect()
}
