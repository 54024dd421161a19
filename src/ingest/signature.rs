//! `X-Hub-Signature` for Intercom notifications: `sha1=` + 40 lowercase hex characters, the
//! HMAC-SHA1 of the raw request body keyed with the app's client secret (API_FACTS §1.2).
//!
//! Pure functions; the comparison is constant-time (the `hmac` crate's `verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

/// The header Intercom signs notifications in.
pub const HEADER: &str = "x-hub-signature";

const PREFIX: &str = "sha1=";

/// Why a signature was refused; the text is safe to send back in a 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature header")]
    Missing,
    #[error("X-Hub-Signature is not of the form sha1=<40 hex characters>")]
    Malformed,
    #[error("X-Hub-Signature does not match the body for any configured client secret")]
    Mismatch,
}

impl SignatureError {
    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signature",
            Self::Mismatch => "bad_signature",
        }
    }
}

/// The signature header value for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `header` against `body` for each secret in turn (several during a key rotation).
pub fn verify(
    secrets: &[SecretString],
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(PREFIX.as_bytes())
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 40 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    let matched = secrets.iter().any(|secret| {
        let mut mac = mac(secret.expose_secret().as_bytes());
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac(secret: &[u8]) -> Hmac<Sha1> {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    #[test]
    fn matches_a_known_hmac_sha1_vector() {
        // RFC 2202 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn any_secret_of_the_list_may_match() {
        let body = br#"{"type":"notification_event"}"#;
        let header = sign(b"new-secret", body);
        let list = secrets(&["old-secret", "new-secret"]);
        assert_eq!(verify(&list, Some(header.as_bytes()), body), Ok(()));
        assert_eq!(
            verify(&secrets(&["old-secret"]), Some(header.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_missing_malformed_and_other_bodies() {
        let list = secrets(&["s"]);
        let header = sign(b"s", b"one");
        assert_eq!(verify(&list, None, b"one"), Err(SignatureError::Missing));
        assert_eq!(
            verify(&list, Some(b"sha256=abc"), b"one"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&list, Some(&header.as_bytes()[..20]), b"one"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&list, Some(header.as_bytes()), b"two"),
            Err(SignatureError::Mismatch)
        );
    }
}
