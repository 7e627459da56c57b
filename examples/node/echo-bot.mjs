// An echo bot on Tether's control socket, with nothing but Node (18 or later).
//   tether run --confirm manual &            # the running instance serves <store>.sock
//   node echo-bot.mjs ~/.local/share/tether/tether.redb.sock bot.state
// It answers every text with a quoted "echo: …", confirms each message only after its answer
// was acknowledged by the server, and keeps the next inbox position in the state file, so a
// restarted bot resumes where it stopped and misses nothing. docs/CONTROL.md: the protocol.
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';

const [socketPath, stateFile = 'echo-bot.state'] = process.argv.slice(2);
if (!socketPath) { console.error('usage: node echo-bot.mjs SOCKET [STATE_FILE]'); process.exit(2); }
let next; try { next = Number.parseInt(readFileSync(stateFile, 'utf8'), 10); } catch {}
if (!Number.isSafeInteger(next)) next = undefined; // no state yet: new messages only
const socket = createConnection(socketPath);
const call = (request) => socket.write(JSON.stringify(request) + '\n');
const done = (position) => { // confirmed: not delivered again, and where a restart resumes
  call({ cmd: 'confirm', positions: [position] });
  if (next === undefined || position >= next) writeFileSync(stateFile, String((next = position + 1)));
};
call({ cmd: 'subscribe', from: next, events: ['message'], req: 'subscribe' });
createInterface({ input: socket }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.ok === false) console.error(`tether: ${m.code}: ${m.error}`);
  if (m.ok !== undefined) { if (m.ok && typeof m.req === 'number') done(m.req); return; } // an answer
  if (m.event !== 'message') return;
  console.log(`${m.position} ${m.from}: ${m.text ?? `[${m.type}]`}`);
  if (m.from_me || m.text == null) return done(m.position);
  call({ cmd: 'send', to: m.chat, text: `echo: ${m.text}`, reply_to: m.id, req: m.position });
});
socket.on('error', (e) => { console.error(`cannot use ${socketPath}: ${e.message}`); process.exit(1); });
socket.on('close', () => { console.error('the instance closed the socket'); process.exit(1); });
