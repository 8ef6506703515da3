use std::fmt;
use std::hash::Hasher;
use std::net::IpAddr;
use std::str::FromStr;

use siphasher::sip::SipHasher13;

use crate::types::ConfigError;

/// The 128-bit secret of keyed hashing.
///
/// The default is random per process: safe against crafted keys, but two
/// processes then disagree. Proxies that must agree share one key, e.g.
/// from a `--hash-key` flag in hex.
///
/// ```
/// use pickwise::hash::HashKey;
///
/// let key: HashKey = "000102030405060708090a0b0c0d0e0f".parse()?;
/// assert_eq!(key.hash(b"user-42"), key.hash(b"user-42"));
/// assert_ne!(key.hash(b"user-42"), HashKey::from_bytes([9; 16]).hash(b"user-42"));
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey([u8; 16]);

impl HashKey {
    /// A key from its bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        HashKey(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Self {
        HashKey(rand::random())
    }

    fn hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&self.0)
    }

    /// The keyed hash of `data` (SipHash-1-3).
    #[inline]
    pub fn hash(&self, data: &[u8]) -> u64 {
        let mut h = self.hasher();
        h.write(data);
        h.finish()
    }

    /// The keyed hash of `data` combined with `salt` (a backend id's hash, a
    /// replica number): one SipHash pass over both.
    #[inline]
    pub fn hash_with(&self, data: &[u8], salt: u64) -> u64 {
        let mut h = self.hasher();
        h.write(data);
        // Bytes in a fixed order, not `write_u64`'s native one: hosts of
        // either endianness build the same rings and tables.
        h.write(&salt.to_le_bytes());
        h.finish()
    }

    /// The keyed hash of a client address: the whole IPv4 address, or the
    /// first `v6_prefix` bits of an IPv6 one (clients of one /64 are usually
    /// one site, and privacy addresses rotate the rest).
    pub fn hash_ip(&self, ip: IpAddr, v6_prefix: u8) -> u64 {
        match ip {
            IpAddr::V4(v4) => self.hash(&v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.hash(&v4.octets()),
                None => {
                    let bits = u128::from(v6);
                    let prefix = u32::from(v6_prefix.min(128));
                    let masked = bits & u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                    self.hash(&masked.to_be_bytes())
                }
            },
        }
    }
}

impl Default for HashKey {
    fn default() -> Self {
        HashKey::random()
    }
}

/// Never prints the secret.
impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(..)")
    }
}

/// Parses 32 hex digits.
impl FromStr for HashKey {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::Invalid {
            setting: "hash key",
            why: why.to_owned(),
        };
        let text = text.trim();
        if text.len() != 32 || !text.is_ascii() {
            return Err(bad("expected 32 hex digits (16 bytes)"));
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("expected 32 hex digits (16 bytes)"))?;
        }
        Ok(HashKey(bytes))
    }
}
