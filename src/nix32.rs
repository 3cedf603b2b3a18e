//! Nix's own base-32 encoding ("nix32"), used in store paths and hash strings.
//!
//! It is not RFC 4648 base32: the alphabet omits `e`, `o`, `u` and `t`, and the bytes are read from
//! the *last* bit backwards, so the first character holds the most significant bits of the last
//! byte. A digest of `n` bytes takes `(8n - 1) / 5 + 1` characters (32 for SHA-1 or a store path
//! hash, 52 for SHA-256).
//!
//! ```
//! use nix_ingest::nix32;
//! let s = nix32::encode(&[0xff; 20]);
//! assert_eq!(s.len(), 32);
//! assert_eq!(nix32::decode(&s).unwrap(), vec![0xff; 20]);
//! ```

/// The 32 characters of the encoding, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Why a string is not valid nix32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A character outside [`ALPHABET`] (which has no `e`, `o`, `u` or `t`).
    #[error("invalid nix32 character {} at byte {index} (nix32 digits are 0-9 and a-z without e, o, u and t)", show_byte(*.byte))]
    InvalidCharacter {
        /// The offending byte.
        byte: u8,
        /// Its index in the input.
        index: usize,
    },
    /// The leading character carries bits beyond the decoded length.
    #[error("nix32 string has bits set beyond its {len}-byte length")]
    Overflow {
        /// The decoded length in bytes.
        len: usize,
    },
}

/// `'x'` for printable ASCII, `0x..` for anything else.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("{:?}", byte as char)
    } else {
        format!("{byte:#04x}")
    }
}

/// The number of characters that encode `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    if len == 0 { 0 } else { (len * 8 - 1) / 5 + 1 }
}

/// The number of bytes a string of `chars` characters decodes to.
pub const fn decoded_len(chars: usize) -> usize {
    chars * 5 / 8
}

/// Encodes `bytes` as nix32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = bytes[i] >> j;
        let hi = if i + 1 < bytes.len() {
            // `j` is at most 7, so the shift is at most 8 and done in u16 to keep the low bits.
            ((bytes[i + 1] as u16) << (8 - j)) as u8
        } else {
            0
        };
        out.push(ALPHABET[((lo | hi) & 0x1f) as usize] as char);
    }
    out
}

/// Decodes a nix32 string.
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let chars = s.as_bytes();
    let len = decoded_len(chars.len());
    let mut out = vec![0u8; len];
    for (index, &byte) in chars.iter().enumerate() {
        let digit = ALPHABET
            .iter()
            .position(|&c| c == byte)
            .ok_or(DecodeError::InvalidCharacter { byte, index })? as u16;
        let n = chars.len() - 1 - index;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let shifted = digit << j;
        if i < len {
            out[i] |= shifted as u8;
        } else if shifted & 0xff != 0 {
            return Err(DecodeError::Overflow { len });
        }
        let carry = (shifted >> 8) as u8;
        if i + 1 < len {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(DecodeError::Overflow { len });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_nix() {
        // Lengths Nix prints: 26 for MD5, 32 for SHA-1, 52 for SHA-256, 103 for SHA-512.
        assert_eq!(encoded_len(16), 26);
        assert_eq!(encoded_len(20), 32);
        assert_eq!(encoded_len(32), 52);
        assert_eq!(encoded_len(64), 103);
    }

    #[test]
    fn rejects_bad_characters() {
        assert_eq!(
            decode("e0"),
            Err(DecodeError::InvalidCharacter {
                byte: b'e',
                index: 0
            })
        );
    }

    #[test]
    fn rejects_overflow() {
        // Two characters hold 10 bits; one byte only 8.
        assert_eq!(decode("z0"), Err(DecodeError::Overflow { len: 1 }));
    }
}
