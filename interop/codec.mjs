#!/usr/bin/env node
// Differential-test and benchmark harness around the WABinary codec of the npm build of
// Baileys (@whiskeysockets/baileys 6.17.16), driven by tests/tests/baileys_codec.rs and
// tests/benches/codec_vs_baileys.rs.
//
// The npm build ships the dictionary-version-2 token tables; Tether speaks version 3. Baileys'
// `encodeBinaryNode(node, opts, buffer)` and `decodeDecompressedBinaryNode(bytes, opts)` take
// the tables in `opts` ({ TAGS, TOKEN_MAP } for encoding, { TAGS, SINGLE_BYTE_TOKENS,
// DOUBLE_BYTE_TOKENS } for decoding), so this script builds those objects from the repository's
// version-3 token files and passes them on every call.
//
// Usage:
//   node interop/codec.mjs gen --seed N --count K   K random nodes -> {"node":…,"hex":…} lines
//   node interop/codec.mjs decode                    {"hex":…} lines -> {"node":…} | {"error":…}
//   node interop/codec.mjs encode                    {"node":…} lines -> {"hex":…} | {"error":…}
//   node interop/codec.mjs bench --corpus FILE --iters N [--iters-GROUP N]
//                                                    JSON timings of Baileys' codec per group
//
// All hex is the encoded node without the transport flags byte.
//
// Interchange JSON (shared with tests/src/interop.rs):
//   node    = {"tag": str, "attrs": [[key, value], …], "content": content}
//   content = null | [node, …] | {"hex": "…"} | {"str": "…"}
// Attribute pairs keep their order. This side does no normalisation at all: it prints what
// Baileys returns (Baileys has no JID type, so JIDs are strings, and it returns BINARY_* content
// as bytes). Every normalisation needed to compare with Tether lives in one place on the Rust
// side (`tether_tests::interop::Canon`).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateNode } from './gen.mjs';
import { loadTokens } from './tokens.mjs';

const require = createRequire(import.meta.url);
let baileys;
try {
    baileys = require('@whiskeysockets/baileys');
} catch (err) {
    process.stderr.write(
        'the Baileys npm package is not installed: run (cd interop && npm ci --ignore-scripts)\n' +
        `(${err.message.split('\n')[0]})\n`,
    );
    process.exit(3);
}
const { encodeBinaryNode, decodeDecompressedBinaryNode } = baileys;
// The tag bytes are the same in every dictionary version; only the token tables differ.
const { TAGS } = require('@whiskeysockets/baileys/lib/WABinary/constants.js');

const here = dirname(fileURLToPath(import.meta.url));
const tokens = loadTokens(join(here, '..'));

/** Options object carrying the v3 tables, in the shape both Baileys functions destructure. */
const OPTS = {
    TAGS,
    SINGLE_BYTE_TOKENS: tokens.single,
    DOUBLE_BYTE_TOKENS: tokens.double,
    TOKEN_MAP: tokens.map,
};

export function baileysEncode(node) {
    // Baileys starts its buffer with the flags byte ([0]); start empty to get the bare node.
    return encodeBinaryNode(node, OPTS, []);
}

export function baileysDecode(bytes) {
    return decodeDecompressedBinaryNode(bytes, OPTS, { index: 0 });
}

/** Interchange -> Baileys BinaryNode. */
export function toBaileys(inter) {
    if (typeof inter !== 'object' || inter === null || typeof inter.tag !== 'string') {
        throw new Error('node must be an object with a string tag');
    }
    const attrs = {};
    for (const pair of inter.attrs ?? []) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new Error('attribute must be [key, value]');
        const [key, value] = pair;
        if (Object.prototype.hasOwnProperty.call(attrs, key)) {
            throw new Error(`duplicate attribute key ${JSON.stringify(key)} (a JS object cannot hold it)`);
        }
        attrs[key] = value;
    }
    const node = { tag: inter.tag, attrs };
    const c = inter.content;
    if (c === null || c === undefined) {
        // no content
    } else if (Array.isArray(c)) {
        node.content = c.map(toBaileys);
    } else if (typeof c.hex === 'string') {
        node.content = Buffer.from(c.hex, 'hex');
    } else if (typeof c.str === 'string') {
        node.content = c.str;
    } else {
        throw new Error('content must be null, a list, {"hex"} or {"str"}');
    }
    return node;
}

/** Baileys BinaryNode -> interchange (no normalisation). */
export function fromBaileys(node) {
    const attrs = Object.entries(node.attrs ?? {}).map(([k, v]) => [k, String(v)]);
    const c = node.content;
    let content;
    if (c === undefined || c === null) content = null;
    else if (Array.isArray(c)) content = c.map(fromBaileys);
    else if (c instanceof Uint8Array) content = { hex: Buffer.from(c).toString('hex') };
    else if (typeof c === 'string') content = { str: c };
    else throw new Error(`unexpected content type ${typeof c}`);
    return { tag: node.tag, attrs, content };
}

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
        const v = argv[i + 1];
        if (v === undefined) throw new Error(`${a} needs a value`);
        out[a.slice(2)] = v;
        i++;
    }
    return out;
}

function intArg(args, name, dflt) {
    const raw = args[name];
    if (raw === undefined) {
        if (dflt === undefined) throw new Error(`--${name} is required`);
        return dflt;
    }
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
}

/** Runs `fn` on every JSON line of stdin, writing one JSON line per input line. */
async function mapLines(fn) {
    const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
    const out = [];
    const flush = () => {
        if (out.length) {
            process.stdout.write(out.join(''));
            out.length = 0;
        }
    };
    for await (const line of rl) {
        if (!line.trim()) continue;
        let result;
        try {
            result = fn(JSON.parse(line));
        } catch (err) {
            result = { error: String(err && err.message ? err.message : err) };
        }
        out.push(JSON.stringify(result) + '\n');
        if (out.length >= 256) flush();
    }
    flush();
}

function cmdGen(args) {
    const seed = intArg(args, 'seed');
    const count = intArg(args, 'count');
    const lines = [];
    for (let i = 0; i < count; i++) {
        // One generator stream per node, so node i is the same whatever `count` is.
        const node = generateNode((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0, tokens);
        const hex = baileysEncode(toBaileys(node)).toString('hex');
        lines.push(JSON.stringify({ node, hex }) + '\n');
        if (lines.length >= 256) {
            process.stdout.write(lines.join(''));
            lines.length = 0;
        }
    }
    process.stdout.write(lines.join(''));
}

function cmdBench(args) {
    const corpusPath = args.corpus;
    if (!corpusPath) throw new Error('--corpus is required');
    // --iters N applies to every group; --iters-GROUP N overrides it for one group.
    const defaultIters = intArg(args, 'iters', 1000);
    const entries = readFileSync(corpusPath, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
    const groups = new Map();
    for (const e of entries) {
        const g = e.group ?? 'all';
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(toBaileys(e.node));
    }
    const results = {};
    let sink = 0;
    for (const [group, nodes] of groups) {
        const iters = Math.max(1, intArg(args, `iters-${group}`, defaultIters));
        const encoded = nodes.map(baileysEncode);
        const bytes = encoded.reduce((n, b) => n + b.length, 0);
        // Warm-up: let the JIT compile both paths before timing them.
        for (let w = 0; w < Math.max(1, Math.ceil(iters / 10)); w++) {
            for (const n of nodes) sink += baileysEncode(n).length;
            for (const b of encoded) sink += baileysDecode(b).tag.length;
        }
        const t0 = process.hrtime.bigint();
        for (let it = 0; it < iters; it++) {
            for (const n of nodes) sink += baileysEncode(n).length;
        }
        const t1 = process.hrtime.bigint();
        for (let it = 0; it < iters; it++) {
            for (const b of encoded) sink += baileysDecode(b).tag.length;
        }
        const t2 = process.hrtime.bigint();
        const stats = (ns) => ({
            total_ns: Number(ns),
            ns_per_node: Number(ns) / (iters * nodes.length),
            mb_per_s: (bytes * iters) / (Number(ns) / 1e9) / 1e6,
        });
        results[group] = {
            nodes: nodes.length,
            bytes_per_pass: bytes,
            iters,
            encode: stats(t1 - t0),
            decode: stats(t2 - t1),
        };
    }
    process.stdout.write(
        JSON.stringify({ impl: 'baileys', version: baileysVersion(), node: process.version, sink, groups: results }) + '\n',
    );
}

function baileysVersion() {
    return JSON.parse(readFileSync(require.resolve('@whiskeysockets/baileys/package.json'), 'utf8')).version;
}

async function main() {
    const [mode, ...rest] = process.argv.slice(2);
    const args = parseArgs(rest);
    switch (mode) {
        case 'gen':
            cmdGen(args);
            break;
        case 'decode':
            await mapLines((msg) => ({ node: fromBaileys(baileysDecode(Buffer.from(msg.hex, 'hex'))) }));
            break;
        case 'encode':
            await mapLines((msg) => ({ hex: baileysEncode(toBaileys(msg.node)).toString('hex') }));
            break;
        case 'bench':
            cmdBench(args);
            break;
        default:
            process.stderr.write('usage: codec.mjs gen --seed N --count K | decode | encode | bench --corpus FILE --iters N\n');
            process.exit(2);
    }
}

main().catch((err) => {
    process.stderr.write(`codec.mjs: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
