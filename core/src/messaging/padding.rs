//! The plaintext padding of `<enc v="2">` (`messaging.md` §5.2): `padded = protobuf ‖ p bytes
//! each equal to p`, p random in 1…16 (Baileys and WhatsApp Web; whatsmeow draws 1…15).
//! Receivers accept 1…16 and require every padding byte to equal p (whatsmeow's and
//! whatsapp-rust's check).

use thiserror::Error;

/// Why a plaintext's padding is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PaddingError {
    /// The plaintext is empty.
    #[error("the decrypted plaintext is empty (no padding)")]
    Empty,
    /// The last byte is 0 or longer than the plaintext.
    #[error("the padding length {0} is out of range")]
    Length(u8),
    /// Not every padding byte equals the padding length.
    #[error("the padding bytes are inconsistent")]
    Inconsistent,
}

/// Appends `p = (random & 0x0F) + 1` bytes of value `p`.
pub fn pad(mut plaintext: Vec<u8>, random: u8) -> Vec<u8> {
    let p = (random & 0x0F) + 1;
    plaintext.extend(std::iter::repeat_n(p, usize::from(p)));
    plaintext
}

/// Removes the padding.
pub fn unpad(plaintext: &[u8]) -> Result<&[u8], PaddingError> {
    let &p = plaintext.last().ok_or(PaddingError::Empty)?;
    let n = usize::from(p);
    if n == 0 || n > plaintext.len() {
        return Err(PaddingError::Length(p));
    }
    let (body, padding) = plaintext.split_at(plaintext.len() - n);
    if padding.iter().any(|&b| b != p) {
        return Err(PaddingError::Inconsistent);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_one_to_sixteen_and_round_trips() {
        for r in 0..=255u8 {
            let padded = pad(vec![0x0a, 0x02, b'h', b'i'], r);
            let p = usize::from((r & 0x0f) + 1);
            assert_eq!(padded.len(), 4 + p);
            assert_eq!(unpad(&padded), Ok(&[0x0a, 0x02, b'h', b'i'][..]));
        }
        // messaging.md Appendix A, message 1: "hi" padded with 3.
        assert_eq!(
            unpad(&hex::decode("0a026869030303").unwrap())
                .unwrap()
                .len(),
            4
        );
    }

    #[test]
    fn rejects_bad_padding() {
        assert_eq!(unpad(&[]), Err(PaddingError::Empty));
        assert_eq!(unpad(&[1, 0]), Err(PaddingError::Length(0)));
        assert_eq!(unpad(&[3, 3]), Err(PaddingError::Length(3)));
        assert_eq!(unpad(&[1, 2, 3, 3]), Err(PaddingError::Inconsistent));
        assert_eq!(unpad(&[16; 16]), Ok(&[][..]));
    }
}
