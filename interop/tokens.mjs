// Loads the dictionary-version-3 token tables from the repository's token files (the same files
// the Rust codec is built from) into the shapes Baileys' codec options use.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The v3 token files, relative to the repository root: the ones core/build.rs compiles in. */
const SINGLE_PATH = 'core/src/binary/tokens/tokens-single-byte.txt';
const DOUBLE_PATH = 'core/src/binary/tokens/tokens-double-byte.txt';

function dataLines(text) {
    const lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines.map((l) => l.replace(/\r$/, ''));
}

/**
 * Returns { single: string[236], double: string[4][256], map } where `map` is Baileys' TOKEN_MAP
 * shape: token -> { index } (single byte) or { dict, index } (double byte). `map` has no
 * prototype, so strings such as "constructor" are not mistaken for tokens (Baileys' own map is a
 * plain object; no string of the differential domain is affected by the difference).
 */
export function loadTokens(repoRoot) {
    const singlePath = join(repoRoot, SINGLE_PATH);
    const doublePath = join(repoRoot, DOUBLE_PATH);
    for (const p of [singlePath, doublePath]) {
        if (!existsSync(p)) throw new Error(`v3 token file ${p} is missing`);
    }

    const single = dataLines(readFileSync(singlePath, 'utf8')).filter((l) => !l.startsWith('#'));
    if (single.length !== 236 || single[0] !== '') {
        throw new Error(`${singlePath}: expected 236 entries starting with the empty string, got ${single.length}`);
    }

    const double = [];
    for (const line of dataLines(readFileSync(doublePath, 'utf8'))) {
        const m = /^# dictionary (\d+)$/.exec(line);
        if (m) {
            if (Number(m[1]) !== double.length) throw new Error(`${doublePath}: dictionaries out of order`);
            double.push([]);
        } else if (!line.startsWith('#')) {
            if (!double.length) throw new Error(`${doublePath}: token before the first "# dictionary N"`);
            double[double.length - 1].push(line);
        }
    }
    if (double.length !== 4 || double.some((d) => d.length !== 256)) {
        throw new Error(`${doublePath}: expected 4 dictionaries of 256 tokens`);
    }

    const map = Object.create(null);
    single.forEach((t, index) => {
        map[t] = { index };
    });
    double.forEach((dict, d) => {
        dict.forEach((t, index) => {
            map[t] = { dict: d, index };
        });
    });
    return { single, double, map, paths: { single: singlePath, double: doublePath } };
}
