#!/usr/bin/env node
// Writes corpus/stanzas.jsonl: realistic stanzas (shapes from shared protocol/session.md and
// what Baileys and whatsmeow put on the wire) in the interchange form of ../codec.mjs, one
// {"name", "group", "node"} object per line. Byte content is filled from a fixed-seed PRNG, so
// the file is reproducible: `node interop/corpus/build.mjs > interop/corpus/stanzas.jsonl`.
//
// Groups: "small" = everyday stanzas (iq, messages with binary content of 100–2000 bytes,
// receipts, acks, notifications, presence, usync, …); "large" = one 64 KiB media-ish binary.

let state = 0x7e7e7e7e;
function rand() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
}
const bytes = (len) => {
    let hex = '';
    for (let i = 0; i < len; i++) hex += (rand() & 0xff).toString(16).padStart(2, '0');
    return { hex };
};
const upperHex = (len) => {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789ABCDEF'[rand() & 15];
    return s;
};
const msgId = () => `3EB0${upperHex(18)}`;
let iqCounter = 100;
const iqId = () => `41207.28839-${iqCounter++}`;

/** A node; `attrs` is an object whose insertion order is the wire order. */
function n(tag, attrs = {}, content = null) {
    return { tag, attrs: Object.entries(attrs), content };
}
const str = (s) => ({ str: s });
/** ASCII text carried as byte content (how the server sends pairing refs). */
const ascii = (s) => ({ hex: Buffer.from(s, 'latin1').toString('hex') });

const ME = '4915123456789:12@s.whatsapp.net';
const ME_LID = '182342352142367:12@lid';
const ALICE = '4917612345678@s.whatsapp.net';
const BOB = '14155550123@s.whatsapp.net';
const GROUP = '120363041234567890@g.us';
const S = '@s.whatsapp.net';
const T = '1711713012';

const devices = (user, ids) => ids.map((d) => user.replace('@', `:${d}@`));

const corpus = [];
const add = (name, node, group = 'small') => corpus.push({ name, group, node });

// --- keepalive and session start -------------------------------------------------------------
add('ping-iq', n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'w:p' }, [n('ping')]));
add('ping-iq-no-child', n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'w:p' }));
add('pong', n('iq', { from: S, id: '41207.28839-100', type: 'result', t: T }));
add(
    'success',
    n('success', {
        abprops: '8',
        companion_enc_static: 'pYxF1zN8Qm3kR2vT6wL9sJ4hB7cE0gA5',
        creation: '1650000000',
        display_name: 'Alice Example',
        lid: ME_LID,
        location: 'vll',
        props: '27',
        t: T,
    }),
);
add('passive-active', n('iq', { id: iqId(), to: S, type: 'set', xmlns: 'passive' }, [n('active')]));
add('prekey-count-get', n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'encrypt' }, [n('count')]));
add('prekey-count-result', n('iq', { from: S, id: '41207.28839-103', type: 'result' }, [n('count', { value: '37' })]));
add(
    'prekey-upload-30',
    n('iq', { id: iqId(), to: S, type: 'set', xmlns: 'encrypt' }, [
        n('registration', {}, bytes(4)),
        n('type', {}, { hex: '05' }),
        n('identity', {}, bytes(32)),
        n(
            'list',
            {},
            Array.from({ length: 30 }, () => n('key', {}, [n('id', {}, bytes(3)), n('value', {}, bytes(32))])),
        ),
        n('skey', {}, [n('id', {}, bytes(3)), n('value', {}, bytes(32)), n('signature', {}, bytes(64))]),
    ]),
);
add('digest-get', n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'encrypt' }, [n('digest')]));
add('abt-props-get', n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'abt' }, [n('props', { protocol: '1', hash: 'Sxw7ZUp3' })]));
add(
    'abt-props-result',
    n('iq', { from: S, id: '41207.28839-106', type: 'result' }, [
        n(
            'props',
            { protocol: '1', ab_key: 'SVeOdLyf', hash: 'Sxw7ZUp3', refresh: '86400', refresh_id: '33' },
            Array.from({ length: 24 }, (_, i) => n('prop', { config_code: String(1000 + i * 37), config_value: i % 3 ? 'true' : String(i * 11) })),
        ),
    ]),
);
add('dirty-clean', n('iq', { id: iqId(), to: S, type: 'set', xmlns: 'urn:xmpp:whatsapp:dirty' }, [n('clean', { type: 'account_sync', timestamp: T })]));
add('unified-session', n('ib', {}, [n('unified_session', { id: '518400123' })]));
add(
    'offline-preview',
    n('ib', { from: S }, [n('offline_preview', { count: '42', appdata: '0', message: '30', notification: '8', receipt: '4' })]),
);
add('offline-done', n('ib', { from: S }, [n('offline', { count: '42' })]));
add('offline-batch', n('ib', {}, [n('offline_batch', { count: '100' })]));
add('ib-dirty', n('ib', { from: S }, [n('dirty', { type: 'account_sync', timestamp: T })]));
add('media-conn-get', n('iq', { id: iqId(), to: S, type: 'set', xmlns: 'w:m' }, [n('media_conn')]));
add(
    'media-conn-result',
    n('iq', { from: S, id: '41207.28839-110', type: 'result' }, [
        n('media_conn', { auth: 'AWQ3cEkQYjNLm0u9Qz3sR2vT6wL9sJ4hB7cE0gA5xk', ttl: '21600', auth_ttl: '21600', max_buckets: '12' }, [
            n('host', { hostname: 'mmg.whatsapp.net', type: 'primary' }),
            n('host', { hostname: 'media-fra5-1.cdn.whatsapp.net', type: 'fallback' }),
        ]),
    ]),
);

// --- presence and chat state ------------------------------------------------------------------
add('presence-available', n('presence', { name: 'Alice Example', type: 'available' }));
add('presence-contact', n('presence', { from: ALICE, type: 'unavailable', last: '1711712000' }));
add('chatstate-composing', n('chatstate', { from: ALICE }, [n('composing')]));
add('presence-subscribe', n('presence', { type: 'subscribe', to: BOB }));

// --- messages -----------------------------------------------------------------------------------
add(
    'message-in-msg',
    n('message', { from: ALICE, id: msgId(), notify: 'Alice', t: T, type: 'text' }, [n('enc', { v: '2', type: 'msg' }, bytes(180))]),
);
add(
    'message-in-pkmsg',
    n('message', { from: ALICE, id: msgId(), notify: 'Alice', t: T, type: 'text' }, [
        n('enc', { v: '2', type: 'pkmsg' }, bytes(620)),
    ]),
);
add(
    'message-out-pkmsg',
    n('message', { id: msgId(), to: BOB, type: 'text' }, [
        n(
            'participants',
            {},
            devices(BOB, [0, 1, 23]).map((jid) => n('to', { jid: jid.replace(':0@', '@') }, [n('enc', { v: '2', type: 'pkmsg' }, bytes(540))])),
        ),
        n('device-identity', {}, bytes(160)),
    ]),
);
add(
    'message-in-image',
    n('message', { from: BOB, id: msgId(), notify: 'Bob', t: T, type: 'media' }, [
        n('enc', { v: '2', type: 'msg', mediatype: 'image' }, bytes(1820)),
    ]),
);
add(
    'message-in-group',
    n('message', { from: GROUP, id: msgId(), participant: ALICE, notify: 'Alice', t: T, type: 'text' }, [
        n('enc', { v: '2', type: 'skmsg' }, bytes(150)),
    ]),
);
add(
    'message-out-group',
    n('message', { id: msgId(), to: GROUP, type: 'text', phash: '2:bXk0ZjJh' }, [
        n(
            'participants',
            {},
            [...devices(ALICE, [1, 2]), ...devices(BOB, [1, 5, 7]), ...devices('4930123456789@s.whatsapp.net', [1, 3, 9])].map((jid) =>
                n('to', { jid }, [n('enc', { v: '2', type: 'pkmsg' }, bytes(420))]),
            ),
        ),
        n('enc', { v: '2', type: 'skmsg' }, bytes(240)),
        n('device-identity', {}, bytes(160)),
    ]),
);
add(
    'message-out-lid',
    n('message', { id: msgId(), to: '123456789012345@lid', type: 'text' }, [
        n('participants', {}, [n('to', { jid: '123456789012345:4@lid' }, [n('enc', { v: '2', type: 'msg' }, bytes(130))])]),
    ]),
);
add(
    'message-newsletter',
    n('message', { from: '120363123456789012@newsletter', id: '1234', server_id: '317', t: T, type: 'text' }, [
        n('plaintext', {}, bytes(210)),
    ]),
);

// --- receipts and acks --------------------------------------------------------------------------
add('receipt-delivery', n('receipt', { from: ALICE, id: msgId(), t: T }));
add(
    'receipt-read-list',
    n('receipt', { from: BOB, id: msgId(), t: T, type: 'read' }, [n('list', {}, Array.from({ length: 4 }, () => n('item', { id: msgId() })))]),
);
add('receipt-group', n('receipt', { from: GROUP, id: msgId(), participant: '4917612345678:2@s.whatsapp.net', t: T }));
add('receipt-out-read-self', n('receipt', { id: msgId(), to: ALICE, type: 'read-self', t: T }));
add(
    'receipt-retry',
    n('receipt', { id: msgId(), to: ALICE, type: 'retry' }, [
        n('retry', { count: '1', id: msgId(), t: T, v: '1' }),
        n('registration', {}, bytes(4)),
        n('keys', {}, [
            n('type', {}, { hex: '05' }),
            n('identity', {}, bytes(32)),
            n('key', {}, [n('id', {}, bytes(3)), n('value', {}, bytes(32))]),
            n('skey', {}, [n('id', {}, bytes(3)), n('value', {}, bytes(32)), n('signature', {}, bytes(64))]),
            n('device-identity', {}, bytes(160)),
        ]),
    ]),
);
add('ack-server-message', n('ack', { class: 'message', from: BOB, id: msgId(), t: T }));
add('ack-client-receipt', n('ack', { class: 'receipt', id: msgId(), to: ALICE, type: 'read' }));
add('ack-client-message', n('ack', { class: 'message', id: msgId(), to: GROUP, participant: ALICE, from: ME }));

// --- notifications --------------------------------------------------------------------------------
add('notification-prekey-low', n('notification', { from: S, id: '1234567890', t: T, type: 'encrypt' }, [n('count', { value: '4' })]));
add(
    'notification-group-add',
    n('notification', { from: GROUP, id: '2345678901', notify: 'Alice', participant: ALICE, t: T, type: 'w:gp2' }, [
        n('add', { reason: 'invite' }, [n('participant', { jid: BOB, phone_number: BOB, lid: '98765432101234@lid' })]),
    ]),
);
add(
    'notification-devices',
    n('notification', { from: ALICE, id: '3456789012', t: T, type: 'devices' }, [
        n('add', { device_hash: '2:kF8xQ1aZ' }, [n('device', { jid: '4917612345678:31@s.whatsapp.net' }), n('key-index-list', { ts: T }, bytes(120))]),
    ]),
);
add('notification-picture', n('notification', { from: BOB, id: '4567890123', t: T, type: 'picture' }, [n('set', { id: '1711700000', jid: BOB })]));
add(
    'notification-server-sync',
    n('notification', { from: S, id: '5678901234', t: T, type: 'server_sync' }, [
        n('collection', { name: 'regular_high', version: '412' }),
        n('collection', { name: 'critical_block', version: '9' }),
    ]),
);

// --- usync ---------------------------------------------------------------------------------------
add(
    'usync-devices-query',
    n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'usync' }, [
        n('usync', { sid: iqId(), mode: 'query', last: 'true', index: '0', context: 'message' }, [
            n('query', {}, [n('devices', { version: '2' })]),
            n('list', {}, [ALICE, BOB, '4930123456789@s.whatsapp.net', '14155550199@s.whatsapp.net'].map((jid) => n('user', { jid }))),
        ]),
    ]),
);
add(
    'usync-devices-result',
    n('iq', { from: S, id: '41207.28839-120', type: 'result' }, [
        n('usync', { sid: '41207.28839-121', mode: 'query', last: 'true', index: '0', context: 'message' }, [
            n('result', {}, [n('devices')]),
            n(
                'list',
                {},
                [ALICE, BOB].map((jid) =>
                    n('user', { jid }, [
                        n('devices', {}, [
                            n('device-list', {}, [n('device', { id: '0' }), n('device', { id: '2', 'key-index': '1' }), n('device', { id: '23', 'key-index': '4' })]),
                            n('key-index-list', { ts: T }, bytes(110)),
                        ]),
                    ]),
                ),
            ),
        ]),
    ]),
);
add(
    'usync-contacts-query',
    n('iq', { id: iqId(), to: S, type: 'get', xmlns: 'usync' }, [
        n('usync', { sid: iqId(), mode: 'query', last: 'true', index: '0', context: 'interactive' }, [
            n('query', {}, [n('contact'), n('status'), n('business', {}, [n('verified_name')]), n('lid')]),
            n('list', {}, ['+4917612345678', '+14155550123', '+4930123456789'].map((c) => n('user', {}, [n('contact', {}, str(c))]))),
        ]),
    ]),
);

// --- pairing and errors ------------------------------------------------------------------------
add(
    'pair-device',
    n('iq', { from: S, id: '1713900000-1', type: 'set', xmlns: 'md' }, [
        n('pair-device', {}, Array.from({ length: 6 }, () => n('ref', {}, ascii(`2@${upperHex(6)},${bytes(30).hex.slice(0, 48)}`)))),
    ]),
);
add(
    'pair-success',
    n('iq', { from: S, id: '1713900000-2', type: 'set', xmlns: 'md', t: T }, [
        n('pair-success', {}, [
            n('device-identity', {}, bytes(310)),
            n('platform', { name: 'android' }),
            n('device', { jid: ME, lid: ME_LID }),
        ]),
    ]),
);
add(
    'pair-device-sign',
    n('iq', { to: S, type: 'result', id: '1713900000-2' }, [n('pair-device-sign', {}, [n('device-identity', { 'key-index': '3' }, bytes(280))])]),
);
add('stream-error-515', n('stream:error', { code: '515' }));
add('stream-error-replaced', n('stream:error', {}, [n('conflict', { type: 'replaced' })]));
add('failure-401', n('failure', { reason: '401', location: 'frc' }));
add('iq-error', n('iq', { from: S, id: '41207.28839-130', type: 'error' }, [n('error', { code: '404', text: 'item-not-found' })]));

// --- large binary ---------------------------------------------------------------------------------
add(
    'message-media-64k',
    n('message', { from: BOB, id: msgId(), notify: 'Bob', t: T, type: 'media' }, [
        n('enc', { v: '2', type: 'msg', mediatype: 'document' }, bytes(65536)),
    ]),
    'large',
);

for (const entry of corpus) process.stdout.write(JSON.stringify(entry) + '\n');
