//! The binary form of records: a kind byte, a format version byte, then fixed-width fields
//! (little-endian integers, 32-byte keys) and counts bounded before anything is allocated.
//!
//! | record | kind | version | layout |
//! |---|---|---|---|
//! | [`SessionRecord`](crate::SessionRecord) | `S` | 1 | see `session/codec.rs` |
//! | [`SenderKeyRecord`](crate::SenderKeyRecord) | `K` | 1 | see `group/codec.rs` |
//!
//! A newer format gets a new version number and a decoder branch for every older one.

/// Why bytes are not a record this crate can read. Treat it as "no record" (a corrupted
/// session is replaced by the next `pkmsg` or a retry), and keep the bytes for diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The input is empty or starts with another record kind.
    #[error("not a {expected} record (kind byte {found:?}); it was written by something else")]
    WrongKind {
        /// The record type expected.
        expected: &'static str,
        /// The first byte found, if any.
        found: Option<u8>,
    },
    /// A format version this build does not know (written by a newer Tether).
    #[error("record format version {version} is newer than this build understands; upgrade Tether")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The input ends inside a field.
    #[error("record truncated at byte {offset}")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
    },
    /// A field holds a value no record can have.
    #[error("record corrupt at byte {offset}: {what}")]
    Invalid {
        /// What is wrong.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// Bytes follow the end of the record.
    #[error("{extra} unexpected bytes after the end of the record")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// Appends fixed-width fields.
pub(crate) struct Writer {
    pub(crate) out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(kind: u8, version: u8, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(kind);
        out.push(version);
        Self { out }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn key(&mut self, value: &[u8; 32]) {
        self.out.extend_from_slice(value);
    }
}

/// Reads fixed-width fields, never past the end of its input.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the kind and version bytes and returns a reader after them and the version.
    pub(crate) fn open(
        buf: &'a [u8],
        kind: u8,
        expected: &'static str,
        max_version: u8,
    ) -> Result<(Self, u8), RecordError> {
        match buf.first() {
            Some(&k) if k == kind => {}
            found => {
                return Err(RecordError::WrongKind {
                    expected,
                    found: found.copied(),
                });
            }
        }
        let version = *buf.get(1).ok_or(RecordError::Truncated { offset: 1 })?;
        if version == 0 || version > max_version {
            return Err(RecordError::UnsupportedVersion { version });
        }
        Ok((Self { buf, pos: 2 }, version))
    }

    pub(crate) fn invalid(&self, what: &'static str) -> RecordError {
        RecordError::Invalid {
            what,
            offset: self.pos,
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or(RecordError::Truncated { offset: self.pos })?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.take()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    pub(crate) fn key(&mut self) -> Result<[u8; 32], RecordError> {
        self.take()
    }

    /// A flag byte that must be 0 or 1.
    pub(crate) fn flag(&mut self, what: &'static str) -> Result<bool, RecordError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RecordError::Invalid {
                what,
                offset: self.pos - 1,
            }),
        }
    }

    /// Ends the record: no bytes may follow.
    pub(crate) fn finish(self) -> Result<(), RecordError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(RecordError::TrailingBytes { extra }),
        }
    }
}
