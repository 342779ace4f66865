//! The RSA key pair that signs config tokens, plus a second private key for wrong-key faults.
//!
//! The committed test keys are embedded at compile time: generating 2048-bit keys in a debug
//! build is slow, and tests must not depend on the working directory.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::EncodingKey;

use crate::LocalApiError;

/// PEM of the committed private key that signs by default (`tests/keys/test_private.pem`).
pub const TEST_PRIVATE_PEM: &str = include_str!("../keys/test_private.pem");
/// PEM of the committed public key served by default (`tests/keys/test_public.pem`).
pub const TEST_PUBLIC_PEM: &str = include_str!("../keys/test_public.pem");
/// PEM of the second committed private key (`tests/keys/other_private.pem`).
pub const OTHER_PRIVATE_PEM: &str = include_str!("../keys/other_private.pem");
/// PEM of the second committed public key (`tests/keys/other_public.pem`): a token signed by
/// the default key must fail verification with it.
pub const OTHER_PUBLIC_PEM: &str = include_str!("../keys/other_public.pem");

/// The key id used unless [`Keys::with_key_id`] says otherwise.
pub const DEFAULT_KEY_ID: &str = "k1";

/// Signing keys: the pair whose public half is served, and a foreign private key used only by
/// the `wrong_key` token fault.
#[derive(Clone)]
pub struct Keys {
    pub(crate) signing: Arc<EncodingKey>,
    pub(crate) foreign: Arc<EncodingKey>,
    pub(crate) public_pem: String,
    pub(crate) key_id: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The committed test pair (`test_*.pem`); `other_private.pem` is the foreign key.
    pub fn test() -> Result<Keys, LocalApiError> {
        Keys::from_pem(TEST_PRIVATE_PEM, TEST_PUBLIC_PEM)?.with_foreign_pem(OTHER_PRIVATE_PEM)
    }

    /// The second committed pair (`other_*.pem`); `test_private.pem` is the foreign key.
    pub fn other() -> Result<Keys, LocalApiError> {
        Keys::from_pem(OTHER_PRIVATE_PEM, OTHER_PUBLIC_PEM)?.with_foreign_pem(TEST_PRIVATE_PEM)
    }

    /// A pair from PEM text (PKCS#8 or PKCS#1 private key, SubjectPublicKeyInfo public key).
    ///
    /// The foreign key defaults to the committed `other_private.pem` (or `test_private.pem`
    /// when that is the given private key).
    pub fn from_pem(private_pem: &str, public_pem: &str) -> Result<Keys, LocalApiError> {
        let signing = EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(|source| {
            LocalApiError::Key {
                which: "private",
                source,
            }
        })?;
        // Check the public key early: a client would otherwise fail with a confusing error.
        jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|source| {
            LocalApiError::Key {
                which: "public",
                source,
            }
        })?;
        let foreign_pem = if private_pem.trim() == OTHER_PRIVATE_PEM.trim() {
            TEST_PRIVATE_PEM
        } else {
            OTHER_PRIVATE_PEM
        };
        let foreign = EncodingKey::from_rsa_pem(foreign_pem.as_bytes()).map_err(|source| {
            LocalApiError::Key {
                which: "other private",
                source,
            }
        })?;
        Ok(Keys {
            signing: Arc::new(signing),
            foreign: Arc::new(foreign),
            public_pem: public_pem.to_owned(),
            key_id: DEFAULT_KEY_ID.to_owned(),
        })
    }

    /// A pair read from PEM files.
    pub fn from_files(
        private_path: impl AsRef<Path>,
        public_path: impl AsRef<Path>,
    ) -> Result<Keys, LocalApiError> {
        let private_pem = read(private_path.as_ref())?;
        let public_pem = read(public_path.as_ref())?;
        Keys::from_pem(&private_pem, &public_pem)
    }

    /// Uses another private key for the `wrong_key` token fault.
    pub fn with_foreign_pem(mut self, private_pem: &str) -> Result<Keys, LocalApiError> {
        let foreign = EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(|source| {
            LocalApiError::Key {
                which: "other private",
                source,
            }
        })?;
        self.foreign = Arc::new(foreign);
        Ok(self)
    }

    /// Sets the key id (`kid` header and `key_id` fields).
    #[must_use]
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Keys {
        self.key_id = key_id.into();
        self
    }

    /// The public key PEM that is served with every signed item.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

fn read(path: &Path) -> Result<String, LocalApiError> {
    std::fs::read_to_string(path).map_err(|source| LocalApiError::Read {
        path: path.to_owned(),
        source,
    })
}
