//! The protobuf subset Signal's wire formats need: varints, length-delimited bytes, and a
//! bounded reader that never reads past its input or allocates from a length it was given.
//!
//! Decoding follows protobuf's rules as protobufjs (libsignal-node's decoder) applies them:
//! fields may come in any order, the last occurrence of a field wins, unknown fields are
//! skipped, and a `uint32` keeps the low 32 bits of its varint.

/// Why bytes are not a protobuf message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The input ends inside a field.
    #[error("protobuf input ends inside a field at offset {offset}")]
    Truncated {
        /// Offset of the field that is cut short.
        offset: usize,
    },
    /// A varint is longer than 10 bytes.
    #[error("protobuf varint longer than 10 bytes at offset {offset}")]
    VarintTooLong {
        /// Offset of the varint.
        offset: usize,
    },
    /// A wire type this decoder does not accept (groups, or an undefined type).
    #[error("unsupported protobuf wire type {wire_type} at offset {offset}")]
    WireType {
        /// The wire type.
        wire_type: u8,
        /// Offset of the field key.
        offset: usize,
    },
    /// Field number 0, which protobuf forbids.
    #[error("protobuf field number 0 at offset {offset}")]
    FieldZero {
        /// Offset of the field key.
        offset: usize,
    },
    /// A field has the wrong wire type for its number.
    #[error("protobuf field {field} has wire type {wire_type}, not the expected one")]
    UnexpectedWireType {
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
    },
}

/// One decoded field value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed64,
    Fixed32,
}

impl<'a> Value<'a> {
    /// The value of a `uint32` field (low 32 bits of the varint, as protobufjs reads it).
    pub(crate) fn uint32(self, field: u32) -> Result<u32, ProtobufError> {
        match self {
            // Truncation is protobuf's rule for uint32.
            #[allow(clippy::cast_possible_truncation)]
            Value::Varint(v) => Ok(v as u32),
            other => Err(ProtobufError::UnexpectedWireType {
                field,
                wire_type: other.wire_type(),
            }),
        }
    }

    /// The value of a `bytes` field.
    pub(crate) fn bytes(self, field: u32) -> Result<&'a [u8], ProtobufError> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(ProtobufError::UnexpectedWireType {
                field,
                wire_type: other.wire_type(),
            }),
        }
    }

    fn wire_type(self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64 => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32 => 5,
        }
    }
}

/// Iterates over the fields of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next field, `None` at the end of the input.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, ProtobufError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key_offset = self.pos;
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        // Protobuf field numbers are 29 bits; a larger key is simply an unknown field number.
        let field = u32::try_from(key >> 3).unwrap_or(u32::MAX);
        if field == 0 {
            return Err(ProtobufError::FieldZero { offset: key_offset });
        }
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.skip(8, key_offset)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let start = self.pos;
                let len = usize::try_from(len)
                    .map_err(|_| ProtobufError::Truncated { offset: key_offset })?;
                self.skip(len, key_offset)?;
                Value::Bytes(&self.buf[start..self.pos])
            }
            5 => {
                self.skip(4, key_offset)?;
                Value::Fixed32
            }
            _ => {
                return Err(ProtobufError::WireType {
                    wire_type,
                    offset: key_offset,
                });
            }
        };
        Ok(Some((field, value)))
    }

    fn skip(&mut self, len: usize, offset: usize) -> Result<(), ProtobufError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or(ProtobufError::Truncated { offset })?;
        self.pos = end;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(ProtobufError::Truncated { offset: start })?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintTooLong { offset: start })
    }
}

/// Appends protobuf fields to a buffer, always in the order they are written.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// A `uint32` field, written even when zero (as libsignal-node and Baileys write it).
    pub(crate) fn uint32(&mut self, field: u32, value: u32) -> &mut Self {
        self.varint(u64::from(field) << 3);
        self.varint(u64::from(value));
        self
    }

    /// A `bytes` field.
    pub(crate) fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.bytes_header(field, value.len());
        self.out.extend_from_slice(value);
        self
    }

    /// The key and length of a `bytes` field of `len` bytes; the caller appends the bytes.
    pub(crate) fn bytes_header(&mut self, field: u32, len: usize) -> &mut Self {
        self.varint((u64::from(field) << 3) | 2);
        self.varint(len as u64);
        self
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }
}

/// Where `inner`, a sub-slice of `outer` (as the reader hands out), starts in `outer`.
pub(crate) fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    let offset = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    debug_assert!(
        offset + inner.len() <= outer.len(),
        "inner is not inside outer"
    );
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_fields_back() {
        let mut out = Vec::new();
        Writer::new(&mut out)
            .uint32(1, 31337)
            .bytes(2, b"abc")
            .uint32(3, 0)
            .uint32(4, u32::MAX);
        assert_eq!(hex::encode(&out[..4]), "08e9f401");
        let mut reader = Reader::new(&out);
        let mut fields = Vec::new();
        while let Some(field) = reader.next_field().unwrap() {
            fields.push(field);
        }
        assert_eq!(
            fields,
            vec![
                (1, Value::Varint(31337)),
                (2, Value::Bytes(b"abc")),
                (3, Value::Varint(0)),
                (4, Value::Varint(u64::from(u32::MAX))),
            ]
        );
    }

    #[test]
    fn bounds_every_length() {
        for bad in [
            &[0x0a, 0x05, 1, 2][..],
            &[0x08][..],
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..],
            &[0x0b][..],
            &[0x00][..],
            &[0x09, 1, 2][..],
        ] {
            let mut reader = Reader::new(bad);
            assert!(reader.next_field().is_err(), "{bad:?}");
        }
    }
}
