#!/usr/bin/env node
// Fidelity harness: the real npm Baileys client (@whiskeysockets/baileys 6.17.16) against a
// Tether SimServer, driven by tests/tests/baileys_fidelity.rs.
//
// Usage: node interop/fidelity.mjs <ws-url> <auth-dir> [timeout-seconds]
//
// Runs one Baileys application the usual way: multi-file auth state in <auth-dir>, a new socket
// after a close that asks for a restart (515), nothing else. Prints one JSON line per event on
// stdout:
//   {"event":"connecting"}
//   {"event":"qr","qr":"ref,noise,identity,adv"}
//   {"event":"creds.update","me":"jid or null"}
//   {"event":"open","me":"jid"}
//   {"event":"close","statusCode":N,"message":"..."}
//   {"event":"message","id":"...","chat":"jid","participant":"jid or null","fromMe":bool,"text":"...",
//    "quoted":"id or null","reaction":{"id":"...","text":"..."} or null,
//    "stub":N or null,"stubParameters":[...] or null,"fields":["..."]}         (messages.upsert)
//    "media":{"type":"image|video|audio|document|sticker","url":"...","directPath":"...",
//             "mimetype":"...","fileLength":N,"fileName":"...","caption":"...","ptt":bool,
//             "seconds":N,"gifPlayback":bool,"isAnimated":bool} or null,
//   {"event":"sent","id":"..."}                          (after "send", "reply", "react", "media")
//   {"event":"send-failed","message":"..."}
//   {"event":"downloaded","id":"...","path":"...","length":N,"sha256":"hex"}    (after "download")
//   {"event":"download-failed","id":"...","message":"...","status":N or null}
//   {"event":"reuploaded","id":"...","directPath":"...","url":"..."}                (after "reupload")
//   {"event":"reupload-failed","id":"...","message":"..."}
//   {"event":"exit","reason":"..."}
// Commands on stdin, one per line: "quit" (exit now); "send <jid> <text>" (sendMessage with
// that text); "reply <jid> <id> <text>" (that text quoting message <id>, one this process
// received); "react <jid> <id> <emoji>" (a reaction to message <id>, received or sent here);
// "media <jid> image|video|gif|document|voice|sticker <file> [<caption, file name, seconds or
// 'animated'>]" (sendMessage with the file's bytes as an image or an MP4 video with that
// caption (a gif: gifPlayback), a document with that file name, a voice note (ptt, Ogg/Opus)
// that long, or a WebP sticker, animated when the word says so); "download <id> <file>" (downloadMediaMessage of received
// message <id>, the bytes written to <file>; only from a loopback URL, so a test never reaches
// WhatsApp, and without Baileys' re-upload request, which rebuilds the URL on WhatsApp's host);
// "location <jid> <latitude> <longitude> <name>" (a location message with that name);
// "contact <jid> <phone digits> <display name>" (a contact card: a vCard with FN and a TEL
// carrying waid=<phone digits>); "contacts <jid> <phone digits>..." (several such cards in one
// message, each named "Contact <phone digits>": Baileys sends a contactsArrayMessage);
// "reupload <id>" (Baileys' updateMediaMessage: the media-retry request to its own phone and
// the new direct path from the phone's answer; Baileys 6.17.16 then points the URL at
// mmg.whatsapp.net, and the harness points it at the media host the message named instead).
// The process also exits when stdin ends and after the timeout (default 120 s). A close that
// is not a 515 does not reconnect: the driving test decides what happens next.
//
// FIDELITY_KEEP_ALIVE_MS=<ms>: Baileys' keep-alive interval (default 1000, so a lost server is
// noticed quickly; Baileys closes with 408 when nothing came for the interval + 5 s, which a
// long CPU-bound send can cause: the group benchmark uses Baileys' own default, 30000).
//
// FIDELITY_APP_STATE_KEY_ID=<base64>: set creds.myAppStateKeyId before the first login when
// the auth state has none, so Baileys 6.17.16 does not hold every event back waiting for the
// phone's app-state key (interop-notes.md item 10; the simulated phones share none).

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { emit, loadBaileys, openSocket, stderrLogger } from './baileys-app.mjs';

const { baileys, pino } = loadBaileys();

const [url, authDir, timeoutArg] = process.argv.slice(2);
if (!url || !authDir) {
  process.stderr.write('usage: node interop/fidelity.mjs <ws-url> <auth-dir> [timeout-seconds]\n');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 120) * 1000;

const { useMultiFileAuthState, DisconnectReason, downloadMediaMessage } = baileys;
// FIDELITY_LOG=<level>: Baileys' own log, on stderr (stdout carries the events).
const logger = stderrLogger(pino);

const exit = (reason, code = 0) => {
  emit({ event: 'exit', reason });
  process.exit(code);
};

const { state, saveCreds } = await useMultiFileAuthState(authDir);
if (process.env.FIDELITY_APP_STATE_KEY_ID && !state.creds.myAppStateKeyId) {
  state.creds.myAppStateKeyId = process.env.FIDELITY_APP_STATE_KEY_ID;
}
let saving = Promise.resolve();
let socket;
// What this application sent, for Baileys' getMessage (retry receipts).
const sentMessages = new Map();
// getMessage calls waiting for a message whose sendMessage has not resolved yet: a retry
// receipt can arrive while Baileys still writes the send's session state to disk.
const awaitedMessages = new Map();
const remember = (id, message) => {
  sentMessages.set(id, message);
  for (const resolve of awaitedMessages.get(id) ?? []) resolve(message);
  awaitedMessages.delete(id);
};
const sentMessage = (id) => {
  if (sentMessages.has(id)) return Promise.resolve(sentMessages.get(id));
  return new Promise((resolve) => {
    awaitedMessages.set(id, [...(awaitedMessages.get(id) ?? []), resolve]);
    setTimeout(() => resolve(undefined), 10000).unref();
  });
};
// Messages by id (received and sent), what "reply" quotes and "react" points at.
const known = new Map();

const start = () => {
  socket = openSocket(baileys, {
    url,
    state,
    logger,
    browser: ['Tether fidelity', 'Chrome', '1.0'],
    keepAliveIntervalMs: Number(process.env.FIDELITY_KEEP_ALIVE_MS || 1000),
    defaultQueryTimeoutMs: 20000,
    getMessage: (key) => sentMessage(key.id),
  });
  socket.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      known.set(m.key.id, m);
      // protobufjs gives unset strings as "" (prototype defaults): `||`, not `??`.
      const text = m.message?.conversation || m.message?.extendedTextMessage?.text || null;
      const quoted = m.message?.extendedTextMessage?.contextInfo?.stanzaId || null;
      const r = m.message?.reactionMessage;
      const reaction = r ? { id: r.key?.id || null, text: r.text || '' } : null;
      const media = mediaOf(m.message);
      const pin = m.message?.locationMessage;
      const location = pin
        ? {
            degreesLatitude: pin.degreesLatitude ?? null,
            degreesLongitude: pin.degreesLongitude ?? null,
            name: pin.name || null,
            address: pin.address || null,
          }
        : null;
      const card = m.message?.contactMessage;
      const contact = card ? { displayName: card.displayName || null, vcard: card.vcard || null } : null;
      const list = m.message?.contactsArrayMessage;
      const contacts = list
        ? {
            displayName: list.displayName || null,
            contacts: (list.contacts || []).map((c) => ({
              displayName: c.displayName || null,
              vcard: c.vcard || null,
            })),
          }
        : null;
      emit({
        event: 'message',
        id: m.key.id,
        chat: m.key.remoteJid,
        participant: m.key.participant || null,
        fromMe: !!m.key.fromMe,
        text,
        quoted,
        reaction,
        media,
        location,
        contact,
        contacts,
        // Why there is no content (a message Baileys could not decrypt is a stub), and which
        // fields there are: for failure messages.
        stub: m.messageStubType ?? null,
        stubParameters: m.messageStubParameters ?? null,
        fields: Object.keys(m.message ?? {}),
      });
    }
  });
  socket.ev.on('creds.update', (update) => {
    saving = saving.then(() => saveCreds()).catch((error) => {
      process.stderr.write(`saving credentials failed: ${error.message}\n`);
    });
    emit({ event: 'creds.update', me: state.creds.me?.id ?? update.me?.id ?? null });
  });
  socket.ev.on('connection.update', (update) => {
    const { connection, lastDisconnect, qr } = update;
    if (qr) {
      emit({ event: 'qr', qr });
    }
    if (connection === 'connecting') {
      emit({ event: 'connecting' });
    } else if (connection === 'open') {
      emit({ event: 'open', me: state.creds.me?.id ?? null });
    } else if (connection === 'close') {
      const error = lastDisconnect?.error;
      const statusCode = error?.output?.statusCode ?? null;
      emit({ event: 'close', statusCode, message: error?.message ?? null });
      if (statusCode === DisconnectReason.restartRequired) {
        // What Baileys applications do: the credentials are saved, then a new socket logs in.
        saving.then(start);
      }
    }
  });
};

const send = (jid, content, options = {}) => {
  socket
    .sendMessage(jid, content, options)
    .then((sent) => {
      remember(sent.key.id, sent.message);
      known.set(sent.key.id, sent);
      emit({ event: 'sent', id: sent.key.id });
    })
    .catch((error) => emit({ event: 'send-failed', message: error.message }));
};

// The media sub-message of `message` (documents with a caption come wrapped), or null.
const mediaOf = (message) => {
  const content = message?.documentWithCaptionMessage?.message ?? message;
  for (const type of ['image', 'video', 'audio', 'document', 'sticker']) {
    const media = content?.[`${type}Message`];
    if (media) {
      return {
        type,
        url: media.url || null,
        directPath: media.directPath || null,
        mimetype: media.mimetype || null,
        fileLength: media.fileLength == null ? null : Number(media.fileLength),
        fileName: media.fileName || null,
        caption: media.caption || null,
        ptt: !!media.ptt,
        seconds: media.seconds || null,
        gifPlayback: !!media.gifPlayback,
        isAnimated: !!media.isAnimated,
      };
    }
  }
  return null;
};

// A loopback URL (the simulator's media host): the only kind "download" fetches.
const isLoopback = (url) => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

// A placeholder JPEG preview (start and end of image markers) for videos.
const THUMBNAIL = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

const sendMedia = (jid, kind, file, extra) => {
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    emit({ event: 'send-failed', message: `cannot read ${file}: ${error.message}` });
    return;
  }
  if (kind === 'image') {
    send(jid, { image: bytes, mimetype: 'image/jpeg', caption: extra || undefined });
  } else if (kind === 'video' || kind === 'gif') {
    // A thumbnail given, so Baileys does not run ffmpeg over the (synthetic) file.
    send(jid, {
      video: bytes,
      mimetype: 'video/mp4',
      caption: extra || undefined,
      gifPlayback: kind === 'gif',
      jpegThumbnail: THUMBNAIL,
    });
  } else if (kind === 'sticker') {
    send(jid, { sticker: bytes, isAnimated: extra === 'animated' });
  } else if (kind === 'document') {
    send(jid, { document: bytes, mimetype: 'application/pdf', fileName: extra || 'file' });
  } else if (kind === 'voice') {
    send(jid, {
      audio: bytes,
      ptt: true,
      mimetype: 'audio/ogg; codecs=opus',
      seconds: Number(extra || 1),
    });
  } else {
    emit({ event: 'send-failed', message: `unknown media kind ${kind}` });
  }
};

const download = (id, file) => {
  const message = known.get(id);
  const media = message && mediaOf(message.message);
  if (!media) {
    emit({ event: 'download-failed', id, message: `no media message ${id}`, status: null });
  } else if (!isLoopback(media.url)) {
    emit({ event: 'download-failed', id, message: `not a loopback URL: ${media.url}`, status: null });
  } else {
    downloadMediaMessage(message, 'buffer', {})
      .then((bytes) => {
        writeFileSync(file, bytes);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        emit({ event: 'downloaded', id, path: file, length: bytes.length, sha256 });
      })
      .catch((error) => emit({
        event: 'download-failed',
        id,
        message: error.message,
        status: error.response?.status ?? null,
      }));
  }
};

const reupload = (id) => {
  const message = known.get(id);
  const media = message && mediaOf(message.message);
  if (!media || !isLoopback(media.url)) {
    emit({ event: 'reupload-failed', id, message: `no loopback media message ${id}` });
    return;
  }
  const origin = new URL(media.url).origin;
  socket
    .updateMediaMessage(message)
    .then((updated) => {
      const content = updated.message?.documentWithCaptionMessage?.message ?? updated.message;
      const type = ['image', 'video', 'audio', 'document', 'sticker']
        .find((t) => content?.[`${t}Message`]);
      const sub = content[`${type}Message`];
      sub.url = `${origin}${sub.directPath}`;
      known.set(id, updated);
      emit({ event: 'reuploaded', id, directPath: sub.directPath, url: sub.url });
    })
    .catch((error) => emit({ event: 'reupload-failed', id, message: error.message }));
};

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const trimmed = line.trim();
  if (trimmed === 'quit') {
    saving.then(() => exit('quit'));
  } else if (trimmed.startsWith('send ')) {
    const [, jid, ...words] = trimmed.split(' ');
    send(jid, { text: words.join(' ') });
  } else if (trimmed.startsWith('reply ')) {
    const [, jid, id, ...words] = trimmed.split(' ');
    const quoted = known.get(id);
    if (!quoted) {
      emit({ event: 'send-failed', message: `no message ${id} to quote` });
    } else {
      send(jid, { text: words.join(' ') }, { quoted });
    }
  } else if (trimmed.startsWith('react ')) {
    const [, jid, id, emoji] = trimmed.split(' ');
    const target = known.get(id);
    if (!target) {
      emit({ event: 'send-failed', message: `no message ${id} to react to` });
    } else {
      send(jid, { react: { text: emoji ?? '', key: target.key } });
    }
  } else if (trimmed.startsWith('media ')) {
    const [, jid, kind, file, ...words] = trimmed.split(' ');
    sendMedia(jid, kind, file, words.join(' '));
  } else if (trimmed.startsWith('location ')) {
    const [, jid, latitude, longitude, ...words] = trimmed.split(' ');
    send(jid, {
      location: {
        degreesLatitude: Number(latitude),
        degreesLongitude: Number(longitude),
        name: words.join(' '),
      },
    });
  } else if (trimmed.startsWith('contact ')) {
    const [, jid, phone, ...words] = trimmed.split(' ');
    const displayName = words.join(' ');
    const vcard = `BEGIN:VCARD\nVERSION:3.0\nFN:${displayName}\nTEL;type=CELL;waid=${phone}:+${phone}\nEND:VCARD`;
    send(jid, { contacts: { displayName, contacts: [{ displayName, vcard }] } });
  } else if (trimmed.startsWith('contacts ')) {
    const [, jid, ...phones] = trimmed.split(' ');
    const contacts = phones.map((phone) => ({
      displayName: `Contact ${phone}`,
      vcard: `BEGIN:VCARD\nVERSION:3.0\nFN:Contact ${phone}\nTEL;type=CELL;waid=${phone}:+${phone}\nEND:VCARD`,
    }));
    send(jid, { contacts: { displayName: `${phones.length} contacts`, contacts } });
  } else if (trimmed.startsWith('download ')) {
    const [, id, file] = trimmed.split(' ');
    download(id, file);
  } else if (trimmed.startsWith('reupload ')) {
    const [, id] = trimmed.split(' ');
    reupload(id);
  }
});
lines.on('close', () => saving.then(() => exit('stdin closed')));
setTimeout(() => exit('timeout', 3), timeoutMs).unref();

start();
