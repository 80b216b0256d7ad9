//! `user_id` → `user_key`: HMAC-SHA256 with an operator's secret, hex encoded.
//!
//! The raw `user_id` is never stored. The key is what makes the hash useless to
//! someone who has the data but not the secret, so ingest refuses to start
//! without one, except in demo mode, which uses a fixed, public demo key.
//!
//! HMAC (RFC 2104) is computed here on SHA-256's compression function
//! (`sha2::compress256`): the states after the inner and outer key blocks are
//! computed once, and the padding is written by hand, so a short id costs two
//! compressions and little else. The tests check it against the `hmac`
//! crate.

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use wide::u64x4;

use crate::{Error, Result};

/// Environment variable holding the secret.
pub const USER_KEY_SECRET_ENV: &str = "ORDERPULSE_USER_KEY_SECRET";
/// The fixed key of `orderpulse demo`. Public, so it protects nothing.
pub const DEMO_USER_KEY_SECRET: &str = "orderpulse-demo-user-key-NOT-SECRET";
/// Shortest secret accepted (bytes).
pub const MIN_SECRET_BYTES: usize = 16;

/// SHA-256's chaining state: eight words.
type State = [u32; 8];

/// A keyed hasher of user ids. Cheap to clone; the key schedule is done once.
#[derive(Clone)]
pub struct UserKeyHasher {
    /// SHA-256 after the key block XOR ipad, and after the key block XOR opad.
    inner: State,
    outer: State,
}

const BLOCK: usize = 64;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const H0: State = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Compresses one 64-byte block into `state`.
#[inline(always)]
fn compress(state: &mut State, block: &[u8; BLOCK]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// SHA-256 after one block: `key` (at most a block, zero-padded) XOR `pad`.
fn key_state(key: &[u8], pad: u8) -> State {
    let mut block = [pad; BLOCK];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    let mut state = H0;
    compress(&mut state, &block);
    state
}

/// Finishes a SHA-256 that has absorbed one whole block (the key block) with
/// `msg`: its remaining blocks, then the padding and the bit length.
#[inline]
fn finish_sha256(state: &State, msg: &[u8]) -> State {
    let mut state = *state;
    let mut chunks = msg.chunks_exact(BLOCK);
    for chunk in &mut chunks {
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(chunk);
        compress(&mut state, &block);
    }
    let rest = chunks.remainder();
    let bits = ((BLOCK + msg.len()) as u64).wrapping_mul(8);
    let mut block = [0u8; BLOCK];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    if rest.len() + 1 > BLOCK - 8 {
        compress(&mut state, &block);
        block = [0u8; BLOCK];
    }
    block[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
    compress(&mut state, &block);
    state
}

/// Writes the 64 lowercase hex digits of a digest (eight big-endian words)
/// to `out`, four words at a time (SIMD lanes through `wide`).
#[inline]
fn hex_digest(words: &State, out: &mut [u8; 64]) {
    let splat = u64x4::splat;
    for (w, out) in words.chunks_exact(4).zip(out.chunks_exact_mut(32)) {
        let mut n = u64x4::new([w[0], w[1], w[2], w[3]].map(u64::from));
        // Spread each word's nibbles into bytes, high nibble in the high byte…
        n = ((n & splat(0xFFFF_0000)) << 16) | (n & splat(0xFFFF));
        n = ((n & splat(0x0000_FF00_0000_FF00)) << 8) | (n & splat(0x0000_00FF_0000_00FF));
        n = ((n & splat(0x00F0_00F0_00F0_00F0)) << 4) | (n & splat(0x000F_000F_000F_000F));
        // …then '0'..'9' or 'a'..'f' in every byte at once: a nibble of 10
        // or more carries into bit 4 when 6 is added, and gets 39 more.
        let letters: u64x4 =
            ((n + splat(0x0606_0606_0606_0606)) >> 4) & splat(0x0101_0101_0101_0101);
        let ascii: u64x4 =
            n + splat(0x3030_3030_3030_3030) + (letters << 5) + (letters << 3) - letters;
        for (lane, o) in ascii.to_array().iter().zip(out.chunks_exact_mut(8)) {
            o.copy_from_slice(&lane.to_be_bytes());
        }
    }
}

impl std::fmt::Debug for UserKeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserKeyHasher(<secret>)")
    }
}

impl UserKeyHasher {
    /// A hasher keyed with `secret` (at least [`MIN_SECRET_BYTES`] bytes).
    pub fn new(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::UserKeySecret(format!(
                "the secret must be at least {MIN_SECRET_BYTES} bytes (got {}); \
                 set {USER_KEY_SECRET_ENV} to a long random string",
                secret.len()
            )));
        }
        // A key longer than a block is hashed first (RFC 2104).
        let hashed;
        let key = if secret.len() > BLOCK {
            hashed = Sha256::digest(secret);
            hashed.as_slice()
        } else {
            secret
        };
        Ok(Self {
            inner: key_state(key, 0x36),
            outer: key_state(key, 0x5c),
        })
    }

    /// Resolves the secret from configuration: the configured value, else the
    /// demo key in demo mode, else an error that says how to set one.
    pub fn from_config(secret: Option<&str>, demo: bool) -> Result<Self> {
        match (secret, demo) {
            (Some(s), _) => Self::new(s.as_bytes()),
            (None, true) => Self::new(DEMO_USER_KEY_SECRET.as_bytes()),
            (None, false) => Err(Error::UserKeySecret(format!(
                "no secret configured: user ids are stored only as keyed hashes, so set \
                 {USER_KEY_SECRET_ENV} (or --user-key-secret) to a long random string, \
                 e.g. `export {USER_KEY_SECRET_ENV}=$(openssl rand -hex 32)`"
            ))),
        }
    }

    /// The 64 lowercase hex characters of HMAC-SHA256(secret, user_id).
    pub fn hash_hex<'b>(&self, user_id: &str, out: &'b mut [u8; 64]) -> &'b str {
        let inner = finish_sha256(&self.inner, user_id.as_bytes());
        let mut inner_bytes = [0u8; 32];
        for (o, w) in inner_bytes.chunks_exact_mut(4).zip(inner) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        let digest = finish_sha256(&self.outer, &inner_bytes);
        hex_digest(&digest, out);
        std::str::from_utf8(out).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // python3: hmac.new(b"0123456789abcdef", b"user-42", hashlib.sha256).hexdigest()
        let h = UserKeyHasher::new(b"0123456789abcdef").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            h.hash_hex("user-42", &mut buf),
            "101b5ab6a741733cad42f34ec38bf81f4f51532af00c42be9f2ca5b34ba30411"
        );
    }

    #[test]
    fn different_keys_give_different_hashes_and_same_key_is_stable() {
        let a = UserKeyHasher::new(b"aaaaaaaaaaaaaaaa").unwrap();
        let b = UserKeyHasher::new(b"bbbbbbbbbbbbbbbb").unwrap();
        let (mut x, mut y, mut z) = ([0u8; 64], [0u8; 64], [0u8; 64]);
        assert_ne!(a.hash_hex("u1", &mut x), b.hash_hex("u1", &mut y));
        assert_eq!(a.hash_hex("u1", &mut x), a.hash_hex("u1", &mut z));
    }

    fn oracle(secret: &[u8], msg: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(msg);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn agrees_with_the_hmac_crate_at_every_padding_edge() {
        for secret_len in [16, 63, 64, 65, 200] {
            let secret: Vec<u8> = (0..secret_len).map(|i| (i * 7 + 1) as u8).collect();
            let h = UserKeyHasher::new(&secret).unwrap();
            for len in 0..300 {
                let msg: String = (0..len)
                    .map(|i| char::from(b'a' + (i % 26) as u8))
                    .collect();
                let mut buf = [0u8; 64];
                assert_eq!(
                    h.hash_hex(&msg, &mut buf),
                    oracle(&secret, msg.as_bytes()),
                    "secret {secret_len} msg {len}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_hmac_crate(secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 16..100), msg in "\\PC{0,80}") {
            let h = UserKeyHasher::new(&secret).unwrap();
            let mut buf = [0u8; 64];
            proptest::prop_assert_eq!(h.hash_hex(&msg, &mut buf), oracle(&secret, msg.as_bytes()));
        }
    }

    #[test]
    fn refuses_missing_or_short_secret_outside_demo() {
        let err = UserKeyHasher::from_config(None, false).unwrap_err();
        assert!(err.to_string().contains(USER_KEY_SECRET_ENV), "{err}");
        assert!(UserKeyHasher::from_config(Some("short"), false).is_err());
        assert!(UserKeyHasher::from_config(None, true).is_ok());
        assert!(UserKeyHasher::from_config(Some("0123456789abcdef"), false).is_ok());
    }
}
