//! SipHash-1-3 written for the pick path: one pass over a byte slice with
//! no buffering state machine, about twice as fast on short keys as a
//! general `Hasher`. Outputs are the reference algorithm's over the bytes
//! given (the tests check them against the `siphasher` crate), and a salt
//! is always its little-endian bytes: every host maps keys the same way.

/// The four state words after the key is mixed in.
struct Sip13([u64; 4]);

impl Sip13 {
    #[inline]
    fn new(key: &[u8; 16]) -> Self {
        let (k0, k1) = key.split_at(8);
        let k0 = u64::from_le_bytes(k0.try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(k1.try_into().expect("8 bytes"));
        Sip13([
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ])
    }

    #[inline(always)]
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.0;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    /// One 8-byte block, one compression round.
    #[inline(always)]
    fn block(&mut self, m: u64) {
        self.0[3] ^= m;
        self.round();
        self.0[0] ^= m;
    }

    /// The last block (message length in its top byte), three finalisation
    /// rounds.
    #[inline(always)]
    fn finish(mut self, last: u64) -> u64 {
        self.block(last);
        self.0[2] ^= 0xff;
        self.round();
        self.round();
        self.round();
        let [v0, v1, v2, v3] = self.0;
        v0 ^ v1 ^ v2 ^ v3
    }
}

/// The bytes of `tail` (at most 7) as a little-endian number.
#[inline(always)]
fn partial(tail: &[u8]) -> u64 {
    tail.iter()
        .enumerate()
        .fold(0, |word, (i, &byte)| word | u64::from(byte) << (8 * i))
}

/// SipHash-1-3 of `data` under `key`.
#[inline]
pub(crate) fn hash(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut state = Sip13::new(key);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        state.block(u64::from_le_bytes(block.try_into().expect("8 bytes")));
    }
    let length = (data.len() as u64) << 56;
    state.finish(length | partial(blocks.remainder()))
}

/// SipHash-1-3 of `data` followed by `salt`'s 8 little-endian bytes.
pub(crate) fn hash_with(key: &[u8; 16], data: &[u8], salt: u64) -> u64 {
    let mut state = Sip13::new(key);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        state.block(u64::from_le_bytes(block.try_into().expect("8 bytes")));
    }
    let tail = blocks.remainder();
    let length = ((data.len() + 8) as u64) << 56;
    if tail.is_empty() {
        state.block(salt);
        return state.finish(length);
    }
    // The salt's first bytes complete the data's tail; the rest start the
    // last block.
    let used = 8 * tail.len() as u32;
    state.block(partial(tail) | salt << used);
    state.finish(length | salt >> (64 - used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use siphasher::sip::SipHasher13;
    use std::hash::Hasher;

    fn reference(key: &[u8; 16], data: &[u8], salt: Option<u64>) -> u64 {
        let mut h = SipHasher13::new_with_key(key);
        h.write(data);
        if let Some(salt) = salt {
            h.write(&salt.to_le_bytes());
        }
        h.finish()
    }

    proptest! {
        #[test]
        fn matches_the_reference(
            key in any::<[u8; 16]>(),
            data in prop::collection::vec(any::<u8>(), 0..40),
            salt in any::<u64>(),
        ) {
            prop_assert_eq!(hash(&key, &data), reference(&key, &data, None));
            prop_assert_eq!(hash_with(&key, &data, salt), reference(&key, &data, Some(salt)));
        }
    }
}
