//! Nix's binary cache signatures: ed25519 over a path's fingerprint, written `name:base64`.
//!
//! As Nix (`ValidPathInfo::fingerprint`, `PublicKey::verifyDetached`): the signed message is a
//! path's fingerprint, [`nix_ingest::narinfo::fingerprint`] (or [`NarInfo::fingerprint`]),
//!
//! ```text
//! 1;<store path>;<NAR hash as sha256:nix32>;<NAR size>;<references, full paths, sorted, comma-separated>
//! ```
//!
//! [`NarInfo::fingerprint`]: nix_ingest::narinfo::NarInfo::fingerprint
//!
//! a key is `name:base64(32-byte ed25519 public key)` (what `nix key convert-secret-to-public`
//! prints) and a signature `name:base64(64-byte signature)` (a narinfo's `Sig:` line). A
//! signature counts only if a trusted key has its name and verifies it.
//!
//! ```
//! use nix_ingest::narinfo::fingerprint;
//! use nix_ingest_binary_cache::signature::{PublicKey, Signature};
//! use nix_ingest::store_path::StoreDir;
//!
//! let store = StoreDir::default();
//! let path = store.parse_path("/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed").unwrap();
//! let nar_hash = "sha256:1jx9ck6fy1sy6rr8dsp0x2ivq8nkv0w7bjmsrgl4f2pcb7njwv2q".parse().unwrap();
//! assert_eq!(
//!     fingerprint(&store, &path, &nar_hash, 296, []),
//!     "1;/nix/store/9662cgnnyvgqjpjfkbljw002r27yyg64-fixed;\
//!      sha256:1jx9ck6fy1sy6rr8dsp0x2ivq8nkv0w7bjmsrgl4f2pcb7njwv2q;296;"
//! );
//! assert!("cache.example.org-1:not base64".parse::<PublicKey>().is_err());
//! assert!("no-colon".parse::<Signature>().is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use data_encoding::BASE64;
use ed25519_dalek::VerifyingKey;

/// Why a key or signature could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not `name:base64`.
    #[error("{what} {text:?} is not of the form name:base64")]
    Form {
        /// `key` or `signature`.
        what: &'static str,
        /// The text given.
        text: String,
    },
    /// The base64 part decodes to the wrong number of bytes.
    #[error("{what} {name:?} has {actual} bytes, expected {expected}")]
    Length {
        /// `key` or `signature`.
        what: &'static str,
        /// The key name.
        name: String,
        /// The expected length.
        expected: usize,
        /// The decoded length.
        actual: usize,
    },
    /// The bytes are not an ed25519 key (or a secret key's two halves do not match).
    #[error("key {0:?} is not a valid ed25519 key")]
    InvalidKey(String),
}

fn split<'a>(what: &'static str, text: &'a str) -> Result<(&'a str, Vec<u8>), Error> {
    let form = || Error::Form {
        what,
        text: text.to_owned(),
    };
    let (name, data) = text.split_once(':').ok_or_else(form)?;
    if name.is_empty() {
        return Err(form());
    }
    let bytes = BASE64.decode(data.as_bytes()).map_err(|_| form())?;
    Ok((name, bytes))
}

fn fixed<const N: usize>(what: &'static str, name: &str, bytes: Vec<u8>) -> Result<[u8; N], Error> {
    let actual = bytes.len();
    bytes.try_into().map_err(|_| Error::Length {
        what,
        name: name.to_owned(),
        expected: N,
        actual,
    })
}

/// A public key in Nix's format, `name:base64`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// The key's name (the part before `:`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (name, bytes) = split("key", s.trim())?;
        let bytes: [u8; 32] = fixed("key", name, bytes)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidKey(name.into()))?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A secret key in Nix's format, `name:base64(64 bytes)` (the ed25519 seed, then the public
/// key), as `nix key generate-secret` writes it. Its `Debug` shows the name only.
#[derive(Clone)]
pub struct SecretKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl SecretKey {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, as `nix key convert-secret-to-public` prints it.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// A narinfo `Sig:` value, `name:base64`, over `fingerprint`.
    pub fn sign(&self, fingerprint: &str) -> String {
        use ed25519_dalek::Signer;
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(&self.key.sign(fingerprint.as_bytes()).to_bytes())
        )
    }
}

impl FromStr for SecretKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // A malformed secret is never echoed.
        let (name, bytes) = split("secret key", s.trim()).map_err(|_| Error::Form {
            what: "secret key",
            text: "(not shown)".into(),
        })?;
        let bytes: [u8; 64] = fixed("secret key", name, bytes)?;
        // The second half must be the public key of the first.
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&bytes)
            .map_err(|_| Error::InvalidKey(name.into()))?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.name)
    }
}

/// A signature as a narinfo's `Sig:` line holds it, `name:base64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    name: String,
    signature: ed25519_dalek::Signature,
}

impl Signature {
    /// The name of the key that made it.
    pub fn key_name(&self) -> &str {
        &self.name
    }
}

impl FromStr for Signature {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (name, bytes) = split("signature", s)?;
        let bytes: [u8; 64] = fixed("signature", name, bytes)?;
        Ok(Signature {
            name: name.to_owned(),
            signature: ed25519_dalek::Signature::from_bytes(&bytes),
        })
    }
}

/// The keys whose signatures are believed, by name.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(BTreeMap<String, PublicKey>);

impl TrustedKeys {
    /// Trusts `key` (replacing a trusted key of the same name).
    pub fn insert(&mut self, key: PublicKey) {
        self.0.insert(key.name.clone(), key);
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of the first trusted key that made one of `signatures` over `fingerprint`.
    pub fn verify<'a>(
        &self,
        fingerprint: &str,
        signatures: impl IntoIterator<Item = &'a Signature>,
    ) -> Option<&str> {
        signatures.into_iter().find_map(|sig| {
            let key = self.0.get(&sig.name)?;
            key.key
                .verify_strict(fingerprint.as_bytes(), &sig.signature)
                .ok()
                .map(|()| key.name.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(seed: u8, name: &str) -> (SigningKey, PublicKey) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = format!(
            "{name}:{}",
            BASE64.encode(signing.verifying_key().as_bytes())
        );
        (signing, public.parse().unwrap())
    }

    fn sign(key: &SigningKey, name: &str, msg: &str) -> Signature {
        format!(
            "{name}:{}",
            BASE64.encode(&key.sign(msg.as_bytes()).to_bytes())
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn only_a_trusted_key_of_the_same_name_verifies() {
        let (a, a_pub) = key(1, "a-1");
        let (b, _) = key(2, "b-1");
        let mut trusted = TrustedKeys::default();
        trusted.insert(a_pub.clone());
        let msg = "1;/nix/store/x;sha256:y;1;";
        assert_eq!(trusted.verify(msg, &[sign(&a, "a-1", msg)]), Some("a-1"));
        // Right key, other message.
        assert_eq!(
            trusted.verify("1;/nix/store/z;", &[sign(&a, "a-1", msg)]),
            None
        );
        // Untrusted key, and a trusted name on another key's signature.
        assert_eq!(trusted.verify(msg, &[sign(&b, "b-1", msg)]), None);
        assert_eq!(trusted.verify(msg, &[sign(&b, "a-1", msg)]), None);
        // One good signature among bad ones is enough.
        let sigs = [sign(&b, "b-1", msg), sign(&a, "a-1", msg)];
        assert_eq!(trusted.verify(msg, &sigs), Some("a-1"));
        assert_eq!(a_pub.to_string().parse::<PublicKey>().unwrap(), a_pub);
    }

    #[test]
    fn malformed_keys_and_signatures_are_refused() {
        assert!(matches!(
            "k:AAAA".parse::<PublicKey>(),
            Err(Error::Length { actual: 3, .. })
        ));
        assert!(matches!(
            ":AAAA".parse::<Signature>(),
            Err(Error::Form { .. })
        ));
        assert!(matches!(
            "k:A".parse::<Signature>(),
            Err(Error::Form { .. })
        ));
        assert!(matches!(
            "k:AAAA".parse::<Signature>(),
            Err(Error::Length { expected: 64, .. })
        ));
    }
}
