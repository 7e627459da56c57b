#!/usr/bin/env node
// Differential-test and benchmark harness around npm libsignal 6.0.0 as Baileys 6.17.16 drives
// it (Baileys' own `makeLibSignalRepository` over an in-memory copy of its multi-file key
// store), driven by tests/tests/signal_differential.rs and tests/benches/signal_vs_libsignal.rs.
//
// Usage:
//   node interop/signal.mjs serve     JSON lines on stdin -> one JSON line per request on stdout
//   node interop/signal.mjs bench [--seconds S]  JSON timings of libsignal (signal-bench.mjs)
//
// Requests ({"cmd": ..., ...}; bytes are hex; every reply is {"ok": ...} or {"error": "..."}):
//   party        {name, stream, identity, registrationId, signedPreKey: {id, priv, signature},
//                 preKeys: [{id, priv}]}           a device; keys it generates come from `stream`
//   init         {party, peer, bundle}             SessionBuilder.initOutgoing (injectE2ESession)
//   encrypt      {party, peer, plaintext}          -> {type: "pkmsg"|"msg", body}
//   decrypt      {party, peer, type, body}         -> {plaintext} | error
//   group_encrypt {party, group, plaintext}        -> {body, skdm} (creates the sender key)
//   group_process {party, group, sender, skdm}     processSenderKeyDistributionMessage
//   group_decrypt {party, group, sender, body}     -> {plaintext} | error
//   file         {party, name}                     -> the JSON text Baileys' store holds
//   put_file     {party, name, text}               replaces it
//   options      {transactional}                   see "Transactional attempts" below
//
// Determinism. Every key libsignal or Baileys' group code generates comes from the acting
// party's byte stream: block i = SHA-256("tether-signal-stream/" + stream + "/" + i), read in
// order (a key pair takes 32 bytes, clamped; a sender key id 4 bytes, little-endian, & 0x7fffffff;
// a sender chain key 32 bytes). The Rust side reads the same stream, so both produce the same
// keys. Date.now is a counter, so session order and timestamps are reproducible.
//
// Transactional attempts (on by default). libsignal 6.0.0 decrypts a message by trying each
// session of the record in turn and ratchets a session it only tries (a new ratchet key, a
// closed previous chain) before the MAC check; when another session then succeeds, the damage
// is stored. With the option on, a failed attempt is rolled back (the session and the key
// stream), which is what Tether does; libsignal's own code runs unchanged otherwise.
// `{"cmd": "options", "transactional": false}` turns it off to show the defect.
//
// The libsignal and Baileys packages are only called, not copied.

import { createRequire } from 'node:module';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { createInterface } from 'node:readline';

// stdout is the protocol channel, and libsignal logs every failed attempt: its console chatter
// goes nowhere (the harness's own failures are written to stderr directly).
for (const level of ['log', 'info', 'warn', 'debug', 'trace', 'error']) console[level] = () => {};

const require = createRequire(import.meta.url);
let libsignal, baileys, keyhelper, curve, BufferJSON;
try {
    libsignal = require('libsignal');
    curve = require('libsignal/src/curve');
    baileys = require('@whiskeysockets/baileys/lib/Signal/libsignal.js');
    keyhelper = require('@whiskeysockets/baileys/WASignalGroup/keyhelper');
    ({ BufferJSON } = require('@whiskeysockets/baileys/lib/Utils/generics.js'));
} catch (err) {
    process.stderr.write(
        'the Baileys npm package is not installed: run (cd interop && npm ci --ignore-scripts)\n' +
        `(${err.message.split('\n')[0]})\n`,
    );
    process.exit(3);
}

let clock = 1_700_000_000_000;
Date.now = () => ++clock;

// ---- deterministic keys -------------------------------------------------------------------

class Stream {
    constructor(id) {
        this.id = id;
        this.block = 0;
        this.buf = Buffer.alloc(0);
    }
    take(n) {
        while (this.buf.length < n) {
            const h = createHash('sha256').update(`tether-signal-stream/${this.id}/${this.block++}`).digest();
            this.buf = Buffer.concat([this.buf, h]);
        }
        const out = Buffer.from(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        return out;
    }
    save() { return { block: this.block, buf: this.buf }; }
    restore(s) { this.block = s.block; this.buf = s.buf; }
}

const PRIV_DER = Buffer.from([48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 110, 4, 34, 4, 32]);

function clamp(priv) {
    const k = Buffer.from(priv);
    k[0] &= 248; k[31] &= 127; k[31] |= 64;
    return k;
}

function publicOf(priv) {
    const key = createPrivateKey({ key: Buffer.concat([PRIV_DER, priv]), format: 'der', type: 'pkcs8' });
    return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12);
}

function pairOf(privHex) {
    const privKey = clamp(Buffer.from(privHex, 'hex'));
    return { privKey, pubKey: Buffer.concat([Buffer.from([5]), publicOf(privKey)]) };
}

let active = null; // the party whose operation is running
const originalGenerateKeyPair = curve.generateKeyPair;
curve.generateKeyPair = () => {
    if (!active) return originalGenerateKeyPair();
    return pairOf(active.stream.take(32).toString('hex'));
};
const { generateSenderKeyId, generateSenderKey } = keyhelper;
keyhelper.generateSenderKeyId = () =>
    active ? active.stream.take(4).readUInt32LE(0) & 0x7fffffff : generateSenderKeyId();
keyhelper.generateSenderKey = () => active ? active.stream.take(32) : generateSenderKey();

// ---- transactional attempts ---------------------------------------------------------------

let transactional = true;
const SessionCipher = libsignal.SessionCipher;
const originalAttempt = SessionCipher.prototype.doDecryptWhisperMessage;
SessionCipher.prototype.doDecryptWhisperMessage = async function (buffer, session) {
    if (!transactional || !session) return originalAttempt.call(this, buffer, session);
    const snapshot = session.serialize();
    const stream = active && active.stream.save();
    try {
        return await originalAttempt.call(this, buffer, session);
    } catch (err) {
        const restored = session.constructor.deserialize(snapshot);
        for (const key of Object.keys(session)) delete session[key];
        Object.assign(session, restored);
        if (stream) active.stream.restore(stream);
        throw err;
    }
};

// ---- parties over Baileys' multi-file key store (in memory) -------------------------------

const parties = new Map();
const jid = (name) => `${name}@s.whatsapp.net`;

function makeParty(req) {
    const identity = pairOf(req.identity);
    const signed = pairOf(req.signedPreKey.priv);
    const files = new Map();
    const write = (name, value) => files.set(name, JSON.stringify(value, BufferJSON.replacer));
    const read = (name) => files.has(name) ? JSON.parse(files.get(name), BufferJSON.reviver) : null;
    for (const k of req.preKeys || []) {
        const pair = pairOf(k.priv);
        write(`pre-key-${k.id}`, { private: pair.privKey, public: pair.pubKey.subarray(1) });
    }
    const creds = {
        signedIdentityKey: { private: identity.privKey, public: identity.pubKey.subarray(1) },
        signedPreKey: {
            keyId: req.signedPreKey.id,
            keyPair: { private: signed.privKey, public: signed.pubKey.subarray(1) },
            signature: Buffer.from(req.signedPreKey.signature, 'hex'),
        },
        registrationId: req.registrationId,
    };
    // useMultiFileAuthState's keys.get / keys.set, with a Map in place of the directory.
    const keys = {
        get: async (type, ids) => Object.fromEntries(ids.map((id) => [id, read(`${type}-${id}`)])),
        set: async (data) => {
            for (const type of Object.keys(data)) {
                for (const [id, value] of Object.entries(data[type])) {
                    if (value) write(`${type}-${id}`, value); else files.delete(`${type}-${id}`);
                }
            }
        },
    };
    return {
        name: req.name,
        stream: new Stream(req.stream),
        files,
        repo: baileys.makeLibSignalRepository({ creds, keys }),
    };
}

function party(name) {
    const p = parties.get(name);
    if (!p) throw new Error(`no party ${name}`);
    return p;
}

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => Buffer.from(h, 'hex');

async function handle(req) {
    switch (req.cmd) {
    case 'party':
        parties.set(req.name, makeParty(req));
        return true;
    case 'options':
        if (typeof req.transactional === 'boolean') transactional = req.transactional;
        return { transactional };
    case 'init': {
        const p = party(req.party);
        const b = req.bundle;
        const session = {
            registrationId: b.registrationId,
            identityKey: bytes(b.identityKey),
            signedPreKey: { keyId: b.signedPreKey.keyId, publicKey: bytes(b.signedPreKey.publicKey), signature: bytes(b.signedPreKey.signature) },
        };
        if (b.preKey) session.preKey = { keyId: b.preKey.keyId, publicKey: bytes(b.preKey.publicKey) };
        await p.repo.injectE2ESession({ jid: jid(req.peer), session });
        return true;
    }
    case 'encrypt': {
        const p = party(req.party);
        const { type, ciphertext } = await p.repo.encryptMessage({ jid: jid(req.peer), data: bytes(req.plaintext) });
        return { type, body: hex(ciphertext) };
    }
    case 'decrypt': {
        const p = party(req.party);
        const plaintext = await p.repo.decryptMessage({ jid: jid(req.peer), type: req.type, ciphertext: bytes(req.body) });
        return { plaintext: hex(plaintext) };
    }
    case 'group_encrypt': {
        const p = party(req.party);
        const out = await p.repo.encryptGroupMessage({ group: req.group, meId: jid(p.name), data: bytes(req.plaintext) });
        return { body: hex(out.ciphertext), skdm: hex(out.senderKeyDistributionMessage) };
    }
    case 'group_process': {
        const p = party(req.party);
        await p.repo.processSenderKeyDistributionMessage({
            item: { groupId: req.group, axolotlSenderKeyDistributionMessage: bytes(req.skdm) },
            authorJid: jid(req.sender),
        });
        return true;
    }
    case 'group_decrypt': {
        const p = party(req.party);
        const plaintext = await p.repo.decryptGroupMessage({ group: req.group, authorJid: jid(req.sender), msg: bytes(req.body) });
        return { plaintext: hex(plaintext) };
    }
    case 'file': {
        const text = party(req.party).files.get(req.name);
        return text === undefined ? null : text;
    }
    case 'put_file':
        party(req.party).files.set(req.name, req.text);
        return true;
    default:
        throw new Error(`unknown command ${req.cmd}`);
    }
}

async function serve() {
    const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of rl) {
        if (!line.trim()) continue;
        let reply;
        try {
            const req = JSON.parse(line);
            active = req.party ? parties.get(req.party) || null : null;
            reply = { ok: await handle(req) };
        } catch (err) {
            reply = { error: `${err && err.name ? err.name + ': ' : ''}${err && err.message ? err.message : String(err)}` };
        } finally {
            active = null;
        }
        process.stdout.write(JSON.stringify(reply) + '\n');
    }
}

const mode = process.argv[2];
if (mode === 'serve') {
    await serve();
} else if (mode === 'bench') {
    const { bench } = await import('./signal-bench.mjs');
    const at = process.argv.indexOf('--seconds');
    const seconds = at > 0 ? Number(process.argv[at + 1]) : 1;
    process.stdout.write(JSON.stringify(await bench({ libsignal, baileys, curve, BufferJSON, seconds })) + '\n');
} else {
    process.stderr.write('usage: node interop/signal.mjs serve | bench [--seconds S]\n');
    process.exit(2);
}
