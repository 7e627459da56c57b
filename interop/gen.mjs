// Deterministic random WABinary nodes (interchange form) for the differential test against
// Baileys, drawn from the domain where Baileys and Tether are specified to agree (DESIGN §3.1):
//
// - no empty strings anywhere (Baileys npm writes "" as 0x00);
// - JIDs only as strings of these forms: user@s.whatsapp.net, user:N@s.whatsapp.net (N >= 1),
//   user@lid, user:N@lid, groups (new and legacy ids), broadcast lists and status@broadcast,
//   newsletters, bots, c.us, and the server JID "@s.whatsapp.net" — never user:0@ (device 0),
//   hosted or hosted.lid, msgr (FB) or interop JIDs, never an "_agent" part;
// - no "@" in any other string (Baileys turns every string with "@" into a JID);
// - attribute keys are never integer-like ("123"), since JS objects move such keys first, and
//   never repeat within a node; tags and keys contain no "@";
// - no empty child lists (Baileys decodes 0x00 content as [], Tether as no content);
// - raw strings are valid UTF-8 (no lone surrogates).
//
// The PRNG is mulberry32 (32-bit state), so the same seed gives the same node everywhere.

const NIBBLE_CHARS = '0123456789-.';
const HEX_CHARS = '0123456789ABCDEF';
const ASCII_CHARS =
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !"#$%&\'()*+,-./:;<=>?[\\]^_`{|}~\t\n';
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz_-:.';
/** Code point ranges for non-ASCII text: Latin-1, Greek, Cyrillic, Arabic, Devanagari, CJK, emoji. */
const UNICODE_RANGES = [
    [0xa0, 0xff],
    [0x370, 0x3ff],
    [0x400, 0x4ff],
    [0x600, 0x6ff],
    [0x900, 0x97f],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1f64f],
    [0x1f900, 0x1f9ff],
];

const MAX_DEPTH = 4;

function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

class Gen {
    constructor(seed, tokens) {
        this.next = mulberry32(seed);
        this.tokens = tokens;
    }

    int(lo, hi) {
        // inclusive bounds
        return lo + Math.floor(this.next() * (hi - lo + 1));
    }

    chance(p) {
        return this.next() < p;
    }

    pick(arr) {
        return arr[Math.floor(this.next() * arr.length)];
    }

    /** Picks one of `[weight, fn]` by weight and calls it. */
    weighted(options) {
        const total = options.reduce((s, [w]) => s + w, 0);
        let r = this.next() * total;
        for (const [w, fn] of options) {
            if (r < w) return fn();
            r -= w;
        }
        return options[options.length - 1][1]();
    }

    chars(alphabet, len) {
        let s = '';
        for (let i = 0; i < len; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
        return s;
    }

    digits(len) {
        return String(this.int(1, 9)) + this.chars('0123456789', len - 1);
    }

    /** A short length most of the time, sometimes up to `max`. */
    length(shortMax, max) {
        return this.chance(0.85) ? this.int(1, shortMax) : this.int(1, max);
    }

    singleToken() {
        return this.tokens.single[this.int(1, this.tokens.single.length - 1)];
    }

    doubleToken() {
        return this.pick(this.pick(this.tokens.double));
    }

    nibble() {
        // Up to 127 characters packs; 128..200 goes raw.
        const len = this.chance(0.05) ? this.int(128, 200) : this.length(20, 127);
        return this.chars(NIBBLE_CHARS, len);
    }

    upperHex() {
        const len = this.chance(0.05) ? this.int(128, 180) : this.length(32, 127);
        return this.chars(HEX_CHARS, len);
    }

    ascii() {
        // > 255 bytes needs BINARY_20.
        const len = this.chance(0.04) ? this.int(250, 600) : this.length(24, 120);
        return this.chars(ASCII_CHARS, len);
    }

    unicode() {
        const n = this.length(12, 80);
        let s = '';
        for (let i = 0; i < n; i++) {
            if (this.chance(0.3)) {
                s += this.chars(ASCII_CHARS, 1);
            } else {
                const [lo, hi] = this.pick(UNICODE_RANGES);
                s += String.fromCodePoint(this.int(lo, hi));
            }
        }
        return s;
    }

    name() {
        return this.pick('abcdefghijklmnopqrstuvwxyz') + this.chars(NAME_CHARS, this.int(0, 14));
    }

    device() {
        return this.chance(0.8) ? this.int(1, 99) : this.int(1, 255);
    }

    jid() {
        return this.weighted([
            [6, () => `${this.digits(this.int(8, 15))}@s.whatsapp.net`],
            [5, () => `${this.digits(this.int(8, 15))}:${this.device()}@s.whatsapp.net`],
            [4, () => `${this.digits(this.int(12, 15))}@lid`],
            [4, () => `${this.digits(this.int(12, 15))}:${this.device()}@lid`],
            [3, () => `120363${this.chars('0123456789', 12)}@g.us`],
            [1, () => `${this.digits(this.int(10, 13))}-${this.digits(10)}@g.us`],
            [1, () => 'status@broadcast'],
            [1, () => `${this.digits(10)}@broadcast`],
            [1, () => `120363${this.chars('0123456789', 12)}@newsletter`],
            [1, () => `${this.digits(this.int(12, 15))}@bot`],
            [1, () => `${this.digits(this.int(8, 13))}@c.us`],
            [1, () => '@s.whatsapp.net'],
        ]);
    }

    /** A string that is not a JID and contains no "@". */
    plainString() {
        return this.weighted([
            [6, () => this.singleToken()],
            [3, () => this.doubleToken()],
            [4, () => this.nibble()],
            [3, () => this.upperHex()],
            [5, () => this.ascii()],
            [2, () => this.unicode()],
            [2, () => this.name()],
        ]);
    }

    /** An attribute value or string content: any plain string or a JID string. */
    value() {
        return this.chance(0.25) ? this.jid() : this.plainString();
    }

    /** A tag or attribute key: never integer-like, never "__proto__". */
    key() {
        for (;;) {
            const k = this.weighted([
                [8, () => this.singleToken()],
                [3, () => this.doubleToken()],
                [4, () => this.name()],
                [1, () => this.upperHex()],
                [1, () => this.chars(NIBBLE_CHARS, this.int(1, 12))],
                [1, () => this.ascii()],
                [1, () => this.unicode()],
            ]);
            if (!/^[0-9]+$/.test(k) && k !== '__proto__' && !k.includes('@')) return k;
        }
    }

    bytesHex() {
        const len = this.weighted([
            [10, () => this.int(0, 300)],
            [2, () => this.int(0, 32)],
            [1, () => this.int(256, 4000)],
            [0.05, () => this.int(65536, 70000)],
        ]);
        let hex = '';
        for (let i = 0; i < len; i++) hex += ((this.next() * 256) | 0).toString(16).padStart(2, '0');
        return hex;
    }

    attrs() {
        const count = this.weighted([
            [3, () => 0],
            [10, () => this.int(1, 6)],
            [0.1, () => this.int(127, 140)], // list header beyond 255: LIST_16
        ]);
        const seen = new Set();
        const attrs = [];
        while (attrs.length < count) {
            const k = this.key();
            if (seen.has(k)) continue;
            seen.add(k);
            attrs.push([k, this.value()]);
        }
        return attrs;
    }

    content(depth) {
        const canNest = depth < MAX_DEPTH;
        return this.weighted([
            [3, () => null],
            [3, () => ({ hex: this.bytesHex() })],
            [2, () => ({ str: this.value() })],
            [canNest ? (depth === 0 ? 6 : 3) : 0, () => this.children(depth)],
        ]);
    }

    children(depth) {
        const n = this.chance(0.005) ? this.int(256, 300) : this.int(1, 5);
        const out = [];
        for (let i = 0; i < n; i++) out.push(n > 255 ? this.leaf() : this.node(depth + 1));
        return out;
    }

    leaf() {
        return { tag: this.key(), attrs: this.chance(0.5) ? [[this.key(), this.value()]] : [], content: null };
    }

    node(depth) {
        return { tag: this.key(), attrs: this.attrs(), content: this.content(depth) };
    }
}

/** The random node for `seed` (a 32-bit integer), in interchange form. */
export function generateNode(seed, tokens) {
    return new Gen(seed, tokens).node(0);
}
