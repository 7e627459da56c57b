//! A voice note's duration read from its Ogg/Opus container, sans-IO: the caller passes the
//! file's first and last bytes ([`HEAD_BYTES`], [`TAIL_BYTES`]) and nothing else is read.
//!
//! ```text
//! head: page 1 = "OggS" header (27 bytes) + segment table ─▶ "OpusHead" packet ─▶ pre-skip
//! tail: the last "OggS" page whose header is whole ─▶ granule position (48 kHz samples)
//! seconds = (granule − pre-skip) / 48 000, rounded; none when anything does not fit
//! ```

/// How much of the file's start [`opus_seconds`] needs.
pub const HEAD_BYTES: usize = 4096;
/// How much of the file's end [`opus_seconds`] looks at (an Ogg page is at most 65,307 bytes).
pub const TAIL_BYTES: usize = 65_536;

/// The Ogg page header's length before its segment table.
const PAGE_HEADER: usize = 27;
/// Opus granule positions count 48 kHz samples, whatever the input rate was.
const OPUS_RATE: u64 = 48_000;

/// The duration in whole seconds (rounded, at least 1 for any sound) of the Ogg/Opus file
/// whose first bytes are `head` and last bytes are `tail`; `None` when they are not Ogg/Opus
/// or the end is not a whole page.
pub fn opus_seconds(head: &[u8], tail: &[u8]) -> Option<u32> {
    let pre_skip = pre_skip(head)?;
    let granule = last_granule(tail)?;
    let samples = granule.checked_sub(pre_skip)?;
    if samples == 0 {
        return None;
    }
    let seconds = (samples + OPUS_RATE / 2) / OPUS_RATE;
    u32::try_from(seconds.max(1)).ok()
}

/// The pre-skip of the `OpusHead` packet that starts the first page.
fn pre_skip(head: &[u8]) -> Option<u64> {
    if head.get(..4)? != b"OggS" {
        return None;
    }
    let segments = usize::from(*head.get(PAGE_HEADER - 1)?);
    let packet = head.get(PAGE_HEADER + segments..)?;
    if packet.get(..8)? != b"OpusHead" {
        return None;
    }
    let bytes = packet.get(10..12)?;
    Some(u64::from(u16::from_le_bytes([bytes[0], bytes[1]])))
}

/// The granule position of the last page in `tail` whose header and segment table are whole
/// and whose granule is set.
fn last_granule(tail: &[u8]) -> Option<u64> {
    let mut end = tail.len();
    while let Some(at) = tail[..end].windows(4).rposition(|w| w == b"OggS") {
        end = at;
        let Some(header) = tail.get(at..at + PAGE_HEADER) else {
            continue;
        };
        let segments = usize::from(header[PAGE_HEADER - 1]);
        if header[4] != 0 || tail.len() < at + PAGE_HEADER + segments {
            continue;
        }
        let mut granule = [0u8; 8];
        granule.copy_from_slice(&header[6..14]);
        let granule = u64::from_le_bytes(granule);
        if granule != u64::MAX {
            return Some(granule);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An Ogg page with `granule` carrying `packet`.
    fn page(granule: u64, packet: &[u8]) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.push(0); // version
        p.push(0); // header type
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // serial, sequence, crc
        let mut left = packet.len();
        let mut table = Vec::new();
        while left >= 255 {
            table.push(255);
            left -= 255;
        }
        table.push(u8::try_from(left).unwrap());
        p.push(u8::try_from(table.len()).unwrap());
        p.extend_from_slice(&table);
        p.extend_from_slice(packet);
        p
    }

    fn opus_file(pre_skip: u16, last_granule: u64) -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.push(1);
        head.push(1);
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let mut file = page(0, &head);
        file.extend(page(0, b"OpusTags\0\0\0\0\0\0\0\0"));
        file.extend(page(last_granule / 2, &[7; 300]));
        file.extend(page(last_granule, &[9; 200]));
        file
    }

    #[test]
    fn the_duration_is_the_last_granule_less_the_pre_skip() {
        let file = opus_file(312, 312 + 7 * 48_000 + 20_000);
        assert_eq!(opus_seconds(&file, &file), Some(7));
        let file = opus_file(312, 312 + 7 * 48_000 + 30_000);
        assert_eq!(opus_seconds(&file, &file), Some(8), "rounded");
        let file = opus_file(312, 312 + 100);
        assert_eq!(
            opus_seconds(&file, &file),
            Some(1),
            "any sound is at least a second"
        );
        let tail = &file[file.len() - 230..];
        assert_eq!(
            opus_seconds(&file, tail),
            Some(1),
            "the tail alone names the end"
        );
    }

    #[test]
    fn anything_else_is_none_never_a_panic() {
        let file = opus_file(312, 312 + 48_000);
        assert_eq!(opus_seconds(b"OggS", &file), None);
        assert_eq!(opus_seconds(&file, b""), None);
        assert_eq!(opus_seconds(b"RIFF....WAVEfmt ", b"data"), None);
        let cut = &file[..file.len() - 220];
        assert_eq!(
            opus_seconds(&file, &cut[cut.len() - 10..]),
            None,
            "a torn header"
        );
        let mut vorbis = file.clone();
        vorbis[28..36].copy_from_slice(b"\x01vorbis\0");
        assert_eq!(opus_seconds(&vorbis, &vorbis), None);
        for n in 0..file.len() {
            let _ = opus_seconds(&file[..n], &file[n..]);
        }
    }
}
