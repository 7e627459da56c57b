#!/usr/bin/env node
// Baileys' side of tests/benches/media.rs: npm Baileys 6.17.16 uploads and downloads a file
// through its own media code against a Tether SimServer's TLS media host, the way an
// application does it.
//
// Usage: node interop/media-bench.mjs <ws-url> <auth-dir> <file> <rounds> <out-dir>
//
// <auth-dir> holds a linked Baileys session (tests/src/interop/fidelity.rs links one). The
// server's test CA is trusted through NODE_EXTRA_CA_CERTS. After `open`, one warm-up round and
// then <rounds> timed rounds, each:
//   upload          prepareWAMessageMedia({ document: { url: <file> } }, { upload:
//                   sock.waUploadToServer }): read, encrypt (AES-256-CBC + HMAC, the hashes),
//                   media_conn (cached after the first), HTTPS POST
//   download_file   downloadMediaMessage(message, 'stream') piped into <out-dir>/baileys.bin
//                   (no fsync; Baileys checks neither MAC nor hashes)
//   download_buffer downloadMediaMessage(message, 'buffer')
// Prints one JSON line per round: {"round":N,"upload_ms":…,"download_file_ms":…,
// "download_buffer_ms":…,"cpu_ms":{…},"sha256_file":"hex","sha256_buffer":"hex","length":N},
// then {"done":true,"max_rss_kib":N} (the process's peak resident memory). With
// MEDIA_BENCH_STEP=1 each round starts when a line arrives on stdin (the bench alternates
// them with Tether's).
// Errors: {"error":"…"} and exit code 1.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';

import { emit, loadBaileys, openSocket, stderrLogger } from './baileys-app.mjs';

const { baileys, pino } = loadBaileys();

const [url, authDir, file, roundsArg, outDir] = process.argv.slice(2);
if (!url || !authDir || !file || !outDir) {
  process.stderr.write('usage: node interop/media-bench.mjs <ws-url> <auth-dir> <file> <rounds> <out-dir>\n');
  process.exit(2);
}
const rounds = Number(roundsArg || 5);
const fail = (message) => {
  emit({ error: message });
  process.exit(1);
};
setTimeout(() => fail('timed out after 600 s'), 600_000).unref();

const { useMultiFileAuthState, prepareWAMessageMedia, downloadMediaMessage } = baileys;
const logger = stderrLogger(pino);
const { state } = await useMultiFileAuthState(authDir);

// Baileys posts the encrypted stream without a length, so Node sends it chunked, as it does
// for an application. With MEDIA_BENCH_CONTENT_LENGTH=1 the upload carries its length instead
// (the same bytes, computed here as Baileys' encryption makes them: AES-256-CBC with PKCS#7
// padding, then the 10-byte MAC), for media hosts that take Content-Length bodies only.
const encryptedLength = (Math.floor(statSync(file).size / 16) + 1) * 16 + 10;
const uploadOptions = process.env.MEDIA_BENCH_CONTENT_LENGTH === '1'
  ? { headers: { 'Content-Length': String(encryptedLength) } }
  : {};

const sock = openSocket(baileys, {
  url,
  state,
  logger,
  options: uploadOptions,
  browser: ['Tether media bench', 'Chrome', '1.0'],
  keepAliveIntervalMs: 30000,
  defaultQueryTimeoutMs: 60000,
});
await new Promise((resolve, reject) => {
  sock.ev.on('connection.update', ({ connection, lastDisconnect }) => {
    if (connection === 'open') resolve();
    if (connection === 'close') reject(new Error(`closed: ${lastDisconnect?.error?.message}`));
  });
}).catch((error) => fail(error.message));

const now = () => Number(process.hrtime.bigint()) / 1e6;
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const sha256File = async (path) => {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
};

// MEDIA_BENCH_STEP=1: wait for a line on stdin before each round, so that the caller can
// alternate these rounds with its own under the same machine load.
const steps = process.env.MEDIA_BENCH_STEP === '1'
  ? createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  : null;

try {
  const out = join(outDir, 'baileys.bin');
  for (let round = 0; round <= rounds; round++) {
    if (steps && (await steps.next()).done) fail('stdin closed before the last round');
    const cpu0 = cpu();
    const t0 = now();
    const message = await prepareWAMessageMedia(
      { document: { url: file }, mimetype: 'application/octet-stream', fileName: 'bench.bin' },
      { upload: sock.waUploadToServer, logger, mediaUploadTimeoutMs: 120000 },
    );
    const t1 = now();
    const cpu1 = cpu();
    const received = { key: { remoteJid: state.creds.me.id, fromMe: true, id: `BENCH${round}` }, message };
    const stream = await downloadMediaMessage(received, 'stream', {});
    await pipeline(stream, createWriteStream(out));
    const t2 = now();
    const cpu2 = cpu();
    const shaFile = await sha256File(out);
    const t3 = now();
    const cpu3 = cpu();
    const buffer = await downloadMediaMessage(received, 'buffer', {});
    const t4 = now();
    const cpu4 = cpu();
    emit({
      round,
      upload_ms: t1 - t0,
      download_file_ms: t2 - t1,
      download_buffer_ms: t4 - t3,
      cpu_ms: { upload: cpu1 - cpu0, download_file: cpu2 - cpu1, download_buffer: cpu4 - cpu3 },
      sha256_file: shaFile,
      sha256_buffer: createHash('sha256').update(buffer).digest('hex'),
      length: Number(message.documentMessage.fileLength),
    });
  }
  emit({ done: true, max_rss_kib: process.resourceUsage().maxRSS });
  sock.end(undefined);
  process.exit(0);
} catch (error) {
  fail(error.stack || String(error));
}
