// Writes and reads Baileys multi-file auth directories with the real npm Baileys, for the
// Tether import/export tests (tests/tests/baileys_auth.rs).
//
//   node auth.mjs write <dir> [paired]
//       initAuthCreds + useMultiFileAuthState(<dir>), a few key-store items through
//       state.keys.set (pre-keys, app-state sync keys and versions, sessions, sender keys,
//       sender-key memory), saveCreds. With `paired`, the creds also carry what pairing and
//       the first login write (me, account, signalIdentities, platform, routingInfo, …; the
//       values are made up but have Baileys' shapes). Prints `{creds, keys}` as below.
//   node auth.mjs read <dir>
//       useMultiFileAuthState(<dir>) and every key-store item it holds (through keys.get, which
//       is how Baileys reads them). Prints one JSON object {creds, keys:{type:{id:value}}},
//       binary values as BufferJSON ({"type":"Buffer","data":"<base64>"}).
//       A creds.json Baileys cannot parse is an error here (Baileys itself would silently
//       start a fresh identity).

import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

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
const { useMultiFileAuthState, BufferJSON, Curve, proto } = baileys;

const TYPES = ['pre-key', 'session', 'sender-key-memory', 'sender-key', 'app-state-sync-key',
    'app-state-sync-version'];

function print(value) {
    process.stdout.write(JSON.stringify(value, BufferJSON.replacer) + '\n');
}

async function write(dir, paired) {
    const { state, saveCreds } = await useMultiFileAuthState(dir);
    const creds = state.creds;
    if (paired) {
        const primary = Curve.generateKeyPair();
        const jid = '15551234567:12@s.whatsapp.net';
        // What configureSuccessfulPairing stores: a decoded ADVSignedDeviceIdentity message.
        creds.account = proto.ADVSignedDeviceIdentity.decode(
            proto.ADVSignedDeviceIdentity.encode({
                details: randomBytes(40),
                accountSignatureKey: primary.public,
                accountSignature: randomBytes(64),
                deviceSignature: randomBytes(64),
            }).finish(),
        );
        creds.me = { id: jid, name: 'Ada', lid: '123456789012345:12@lid' };
        creds.signalIdentities = [{
            identifier: { name: jid, deviceId: 0 },
            identifierKey: Buffer.concat([Buffer.from([5]), primary.public]),
        }];
        creds.platform = 'android';
        creds.routingInfo = Buffer.from([8, 2, 8, 5]);
        creds.lastPropHash = '3R9Z39';
        creds.myAppStateKeyId = 'AAAAAHVo';
        creds.lastAccountSyncTimestamp = 1764000000;
        creds.accountSyncCounter = 2;
        creds.nextPreKeyId = 31;
        creds.firstUnuploadedPreKeyId = 31;
    }
    const preKeys = {};
    for (let id = 1; id <= 5; id++) {
        preKeys[id] = Curve.generateKeyPair();
    }
    const syncId = Buffer.from([0, 0, 0, 0, 0x75, 0x68]).toString('base64');
    const sync = proto.Message.AppStateSyncKeyData.fromObject({
        keyData: randomBytes(32),
        fingerprint: { rawId: 7, currentIndex: 2, deviceIndexes: [0, 12] },
        timestamp: 1764000000123,
    });
    await state.keys.set({
        'pre-key': preKeys,
        'app-state-sync-key': { [syncId]: sync },
        'app-state-sync-version': {
            regular_high: { version: 3, hash: randomBytes(128), indexValueMap: {} },
        },
        // A session npm libsignal wrote (captured; Tether converts it into its own records).
        session: {
            '15550001111.0': JSON.parse(readFileSync(
                new URL('../store-redb/tests/data/libsignal-session.json', import.meta.url),
                'utf-8')),
            '123456789012345_1.3': { _sessions: {}, version: 'v1' },
        },
        // A SenderKeyRecord serialises as a list of SenderKeyState structures.
        'sender-key': {
            '120363000000000000@g.us--15550001111--0': [{
                senderKeyId: 1,
                senderChainKey: { iteration: 0, seed: randomBytes(32) },
                senderSigningKey: { public: Buffer.concat([Buffer.from([5]), randomBytes(32)]) },
                senderMessageKeys: [],
            }],
        },
        'sender-key-memory': { '120363000000000000@g.us': { '15550001111@s.whatsapp.net': true } },
    });
    await saveCreds();
    await read(dir);
}

async function read(dir) {
    let text;
    try {
        text = readFileSync(join(dir, 'creds.json'), 'utf-8');
        JSON.parse(text, BufferJSON.reviver);
    } catch (err) {
        process.stderr.write(`creds.json in ${dir} cannot be loaded: ${err.message}\n`);
        process.exit(2);
    }
    const { state } = await useMultiFileAuthState(dir);
    const ids = {};
    for (const file of readdirSync(dir)) {
        if (!file.endsWith('.json') || file === 'creds.json') {
            continue;
        }
        const stem = file.slice(0, -'.json'.length);
        const type = TYPES.find((t) => stem.startsWith(t + '-'));
        if (!type) {
            continue;
        }
        // File names replace '/' by '__'; keys.get takes the id itself.
        const id = stem.slice(type.length + 1).replace(/__/g, '/');
        (ids[type] ??= []).push(id);
    }
    const keys = {};
    for (const [type, list] of Object.entries(ids)) {
        const got = await state.keys.get(type, list);
        keys[type] = {};
        for (const id of list) {
            const value = got[id];
            keys[type][id] = value && typeof value.toJSON === 'function' ? value.toJSON() : value;
        }
    }
    print({ creds: state.creds, keys });
}

const [mode, dir, flag] = process.argv.slice(2);
if (mode === 'write' && dir) {
    await write(dir, flag === 'paired');
} else if (mode === 'read' && dir) {
    await read(dir);
} else {
    process.stderr.write('usage: node auth.mjs write <dir> [paired] | read <dir>\n');
    process.exit(64);
}
