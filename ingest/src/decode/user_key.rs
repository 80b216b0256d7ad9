//! `user_id` → `user_key`: HMAC-SHA256 with an operator's secret, hex encoded.
//!
//! The raw `user_id` is never stored. The key is what makes the hash useless to
//! someone who has the data but not the secret, so ingest refuses to start
//! without one, except in demo mode, which uses a fixed, public demo key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// Environment variable holding the secret.
pub const USER_KEY_SECRET_ENV: &str = "ORDERPULSE_USER_KEY_SECRET";
/// The fixed key of `orderpulse demo`. Public, so it protects nothing.
pub const DEMO_USER_KEY_SECRET: &str = "orderpulse-demo-user-key-NOT-SECRET";
/// Shortest secret accepted (bytes).
pub const MIN_SECRET_BYTES: usize = 16;

/// A keyed hasher of user ids. Cheap to clone; the key schedule is done once.
#[derive(Clone)]
pub struct UserKeyHasher {
    mac: Hmac<Sha256>,
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
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|e| Error::UserKeySecret(e.to_string()))?;
        Ok(Self { mac })
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
        let mut mac = self.mac.clone();
        mac.update(user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        // hex::encode_to_slice only fails on a length mismatch, which the
        // types rule out (32 bytes → 64 characters).
        if hex::encode_to_slice(digest, out).is_err() {
            out.fill(b'0');
        }
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

    #[test]
    fn refuses_missing_or_short_secret_outside_demo() {
        let err = UserKeyHasher::from_config(None, false).unwrap_err();
        assert!(err.to_string().contains(USER_KEY_SECRET_ENV), "{err}");
        assert!(UserKeyHasher::from_config(Some("short"), false).is_err());
        assert!(UserKeyHasher::from_config(None, true).is_ok());
        assert!(UserKeyHasher::from_config(Some("0123456789abcdef"), false).is_ok());
    }
}
