// What the Node.js programs that run the real npm Baileys client (6.17.16) against a Tether
// SimServer share (fidelity.mjs, media-bench.mjs): loading Baileys, one JSON line per event on
// stdout, Baileys' own log on stderr, and the socket options every one of them sets.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// Baileys and pino from interop/node_modules; exits with code 2 and what to do when they are
// not installed.
export const loadBaileys = () => {
  try {
    return { baileys: require('@whiskeysockets/baileys'), pino: require('pino') };
  } catch (error) {
    process.stderr.write(`cannot load Baileys (run \`npm ci\` in interop/): ${error.message}\n`);
    process.exit(2);
  }
};

// Prints `event` as one JSON line on stdout (what the driving Rust side reads).
export const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// Baileys' own log, on stderr (stdout carries the events): FIDELITY_LOG=<level>, silent by
// default.
export const stderrLogger = (pino) =>
  pino({ level: process.env.FIDELITY_LOG || 'silent' }, pino.destination(2));

// A Baileys socket to the SimServer at `url` with the auth `state`: no QR code in the
// terminal, 20 s to connect, not online on connect, no full history sync; `options` adds the
// caller's own (browser, keep-alive, query timeout, …).
export const openSocket = (baileys, { url, state, logger, ...options }) => {
  const makeWASocket = baileys.default ?? baileys.makeWASocket;
  return makeWASocket({
    waWebSocketUrl: url,
    auth: state,
    logger,
    printQRInTerminal: false,
    connectTimeoutMs: 20000,
    markOnlineOnConnect: false,
    syncFullHistory: false,
    ...options,
  });
};
