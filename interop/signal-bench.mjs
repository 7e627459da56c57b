// libsignal's side of tests/benches/signal_vs_libsignal.rs, loaded by `node interop/signal.mjs
// bench [--iters N] [--seconds S]`: npm libsignal 6.0.0 and Baileys 6.17.16's group code, timed
// on the same operations as Tether, with OpenSSL key generation (libsignal's own).
//
// Two stores for each operation:
//   objects  the record objects stay in memory between operations (libsignal at its fastest)
//   baileys  Baileys' repository over its multi-file key store's JSON (each operation parses
//            and serialises the record, as Baileys does; files kept in memory, no disk)
//
// Output: one JSON object, microseconds per operation:
//   x3dh_initiator      SessionBuilder.initOutgoing from a bundle (libsignal does not verify the
//                       bundle's signature; Tether does)
//   x3dh_responder      the first pkmsg decrypted by a fresh responder (X3DH + first ratchet)
//   message_one_way     encrypt + decrypt of a padded text, one direction (symmetric ratchet)
//   message_ping_pong   encrypt + decrypt, direction alternating (a DH ratchet step each time)
//   group_message       sender-key encrypt + decrypt of the same text

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

import { readFileSync } from 'node:fs';

// This thread's CPU time in seconds (Linux /proc/thread-self/schedstat), or wall time where it
// cannot be read. The Rust side reads the same counter for its thread.
function cpuSeconds() {
    try {
        return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
    } catch {
        return Number(process.hrtime.bigint()) / 1e9;
    }
}

// Microseconds of CPU time per call of `f`, over calls totalling about `seconds` of CPU time
// after a warm-up, as on the Rust side.
function timer(seconds, minIters, f) {
    return async () => {
        let n = 0;
        const wall = () => Number(process.hrtime.bigint()) / 1e9;
        const warm = wall();
        while (n < Math.max(10, minIters / 10) || wall() - warm < 0.05) await f(n++);
        const start = cpuSeconds();
        let calls = 0;
        for (;;) {
            for (let i = 0; i < 16; i++) await f(n++);
            calls += 16;
            const spent = cpuSeconds() - start;
            if (spent >= seconds) return spent / calls * 1e6;
        }
    };
}

export async function bench({ libsignal, baileys, curve, BufferJSON, seconds }) {
    const WASignalGroup = require('@whiskeysockets/baileys/WASignalGroup');
    const text = Buffer.from('0a2d48656c6c6f2c20746869732069732061207479706963616c2073686f72742063686174206d6573736167652e' + '03'.repeat(3), 'hex');

    const device = (registrationId) => {
        const identity = curve.generateKeyPair();
        const signed = curve.generateKeyPair();
        const oneTime = curve.generateKeyPair();
        const signature = curve.calculateSignature(identity.privKey, signed.pubKey);
        return { identity, signed, oneTime, signature, registrationId };
    };
    const bundleOf = (d) => ({
        registrationId: d.registrationId,
        identityKey: d.identity.pubKey,
        signedPreKey: { keyId: 1, publicKey: d.signed.pubKey, signature: d.signature },
        preKey: { keyId: 7, publicKey: d.oneTime.pubKey },
    });

    // libsignal's storage interface with record objects kept in memory.
    const objectStore = (d) => {
        const sessions = new Map();
        const senderKeys = new Map();
        return {
            sessions,
            getOurIdentity: async () => d.identity,
            getOurRegistrationId: async () => d.registrationId,
            isTrustedIdentity: async () => true,
            loadSession: async (a) => sessions.get(a),
            storeSession: async (a, r) => { sessions.set(a, r); },
            loadPreKey: async () => d.oneTime,
            removePreKey: async () => {},
            loadSignedPreKey: async () => d.signed,
            loadSenderKey: async (k) => senderKeys.get(k.toString()),
            storeSenderKey: async (k, r) => { senderKeys.set(k.toString(), r); },
        };
    };
    // Baileys' repository over an in-memory copy of its multi-file store.
    const baileysRepo = (d) => {
        const files = new Map();
        const keys = {
            get: async (type, ids) => Object.fromEntries(ids.map((id) => {
                const t = files.get(`${type}-${id}`);
                return [id, t === undefined ? null : JSON.parse(t, BufferJSON.reviver)];
            })),
            set: async (data) => {
                for (const type of Object.keys(data)) {
                    for (const [id, v] of Object.entries(data[type])) {
                        if (v) files.set(`${type}-${id}`, JSON.stringify(v, BufferJSON.replacer));
                        // The responder bench reuses one one-time pre-key for every pkmsg.
                        else if (type !== 'pre-key') files.delete(`${type}-${id}`);
                    }
                }
            },
        };
        keys.set({ 'pre-key': { 7: { private: d.oneTime.privKey, public: d.oneTime.pubKey.subarray(1) } } });
        const creds = {
            signedIdentityKey: { private: d.identity.privKey, public: d.identity.pubKey.subarray(1) },
            signedPreKey: { keyId: 1, keyPair: { private: d.signed.privKey, public: d.signed.pubKey.subarray(1) }, signature: d.signature },
            registrationId: d.registrationId,
        };
        return baileys.makeLibSignalRepository({ creds, keys });
    };

    const a = device(1), b = device(2);
    const aAddr = new libsignal.ProtocolAddress('a', 1), bAddr = new libsignal.ProtocolAddress('b', 1);
    const out = { objects: {}, baileys: {} };

    // X3DH, initiator.
    {
        const store = objectStore(a);
        const bundle = bundleOf(b);
        out.objects.x3dh_initiator = await timer(seconds, 200, async () => {
            store.sessions.clear();
            await new libsignal.SessionBuilder(store, bAddr).initOutgoing(bundle);
        })();
        const repo = baileysRepo(a);
        let i = 0;
        out.baileys.x3dh_initiator = await timer(seconds, 200, async () => {
            await repo.injectE2ESession({ jid: `b${i++}@s.whatsapp.net`, session: bundle });
        })();
    }
    // X3DH, responder: fresh pkmsgs from fresh initiators, decrypted by fresh records.
    {
        const messages = [];
        for (let i = 0; i < 600; i++) {
            const store = objectStore(a);
            await new libsignal.SessionBuilder(store, bAddr).initOutgoing(bundleOf(b));
            const m = await new libsignal.SessionCipher(store, bAddr).encrypt(text);
            messages.push(Buffer.from(m.body, 'binary'));
        }
        const store = objectStore(b);
        out.objects.x3dh_responder = await timer(seconds, 200, async (i) => {
            store.sessions.clear();
            await new libsignal.SessionCipher(store, aAddr).decryptPreKeyWhisperMessage(messages[i % messages.length]);
        })();
        const repo = baileysRepo(b);
        let n = 0;
        out.baileys.x3dh_responder = await timer(seconds, 200, async () => {
            const i = n++;
            await repo.decryptMessage({ jid: `a${i}@s.whatsapp.net`, type: 'pkmsg', ciphertext: messages[i % messages.length] });
        })();
    }
    // Established sessions: one way and ping-pong.
    for (const mode of ['objects', 'baileys']) {
        let enc, dec;
        if (mode === 'objects') {
            const sa = objectStore(a), sb = objectStore(b);
            await new libsignal.SessionBuilder(sa, bAddr).initOutgoing(bundleOf(b));
            const ca = new libsignal.SessionCipher(sa, bAddr), cb = new libsignal.SessionCipher(sb, aAddr);
            const ciphers = { a: ca, b: cb };
            enc = async (from) => ciphers[from].encrypt(text).then((m) => ({ type: m.type === 3 ? 'pkmsg' : 'msg', body: Buffer.from(m.body, 'binary') }));
            dec = async (to, m) => m.type === 'pkmsg' ? ciphers[to].decryptPreKeyWhisperMessage(m.body) : ciphers[to].decryptWhisperMessage(m.body);
        } else {
            const ra = baileysRepo(a), rb = baileysRepo(b);
            await ra.injectE2ESession({ jid: 'b@s.whatsapp.net', session: bundleOf(b) });
            const repos = { a: [ra, 'b@s.whatsapp.net'], b: [rb, 'a@s.whatsapp.net'] };
            enc = async (from) => repos[from][0].encryptMessage({ jid: repos[from][1], data: text }).then((m) => ({ type: m.type, body: m.ciphertext }));
            dec = async (to, m) => repos[to][0].decryptMessage({ jid: repos[to][1], type: m.type, ciphertext: m.body });
        }
        await dec('b', await enc('a'));
        await dec('a', await enc('b'));
        out[mode].message_one_way = await timer(seconds, 500, async () => {
            await dec('b', await enc('a'));
        })();
        out[mode].message_ping_pong = await timer(seconds, 200, async (i) => {
            const [from, to] = i % 2 ? ['b', 'a'] : ['a', 'b'];
            await dec(to, await enc(from));
        })();
    }
    // Sender keys.
    {
        const name = new WASignalGroup.SenderKeyName('g@g.us', aAddr);
        const sa = objectStore(a), sb = objectStore(b);
        await sa.storeSenderKey(name, new WASignalGroup.SenderKeyRecord());
        await sb.storeSenderKey(name, new WASignalGroup.SenderKeyRecord());
        const skdm = await new WASignalGroup.GroupSessionBuilder(sa).create(name);
        await new WASignalGroup.GroupSessionBuilder(sb).process(name, skdm);
        const ga = new WASignalGroup.GroupCipher(sa, name), gb = new WASignalGroup.GroupCipher(sb, name);
        out.objects.group_message = await timer(seconds, 500, async () => {
            await gb.decrypt(await ga.encrypt(text));
        })();
        const ra = baileysRepo(a), rb = baileysRepo(b);
        const first = await ra.encryptGroupMessage({ group: 'g@g.us', meId: 'a@s.whatsapp.net', data: text });
        await rb.processSenderKeyDistributionMessage({ item: { groupId: 'g@g.us', axolotlSenderKeyDistributionMessage: first.senderKeyDistributionMessage }, authorJid: 'a@s.whatsapp.net' });
        out.baileys.group_message = await timer(seconds, 300, async () => {
            const m = await ra.encryptGroupMessage({ group: 'g@g.us', meId: 'a@s.whatsapp.net', data: text });
            await rb.decryptGroupMessage({ group: 'g@g.us', authorJid: 'a@s.whatsapp.net', msg: m.ciphertext });
        })();
    }
    return out;
}
