//! Verification of the signed items of `/configs`, `/triggered-limits` and `/track-usage`
//! (API.md "GET /configs").
//!
//! Each item carries its own PEM public key and a compact RS256 JWT. jsonwebtoken checks the
//! signature, the algorithm and `iss`; the time claims (`exp`, `nbf`, `iat`) we check ourselves
//! against an explicit `now`, because jsonwebtoken silently ignores an `exp` it cannot parse,
//! does not check `iat` at all, and an explicit clock makes the leeway testable.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The only issuer we trust.
pub(crate) const ISSUER: &str = "aicm-api";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub(crate) const LEEWAY_SECS: i64 = 60;

/// Why an item was not trusted. Logged and skipped, never surfaced as a tracker error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VerifyError {
    /// The item lacks one of its string fields.
    #[error("item has no string `{0}`")]
    MissingField(&'static str),
    /// `public_key` is not an RSA public key in PEM.
    #[error("public_key is not an RSA public key in PEM: {0}")]
    BadKey(String),
    /// The token's header says it was signed with another key than the item names.
    #[error("token kid `{found}` differs from the item's key_id `{expected}`")]
    KidMismatch { expected: String, found: String },
    /// Signature, algorithm, issuer or claim shape rejected.
    #[error("{0}")]
    Token(String),
    /// `exp` more than the leeway in the past.
    #[error("token expired at {exp} (now {now}, leeway {LEEWAY_SECS} s)")]
    Expired { exp: i64, now: i64 },
    /// `nbf` more than the leeway in the future.
    #[error("token not valid before {nbf} (now {now}, leeway {LEEWAY_SECS} s)")]
    NotYetValid { nbf: i64, now: i64 },
    /// `iat` more than the leeway in the future.
    #[error("token issued at {iat}, in the future (now {now}, leeway {LEEWAY_SECS} s)")]
    IssuedInFuture { iat: i64, now: i64 },
}

/// Claims every signed item has, around the item-specific `body`.
///
/// `body` is flattened, so serde buffers it in an order-keeping form: the schema's field order
/// survives (a `serde_json::Value` would sort it).
#[derive(Deserialize)]
struct Envelope<C> {
    // Required here as well as by jsonwebtoken, which would accept an array of issuers.
    #[allow(dead_code)]
    iss: String,
    // API.md: `sub` and `jti` are strings; declaring them makes any other type a rejection.
    #[allow(dead_code)]
    sub: Option<String>,
    #[allow(dead_code)]
    jti: Option<String>,
    iat: Option<NumericDate>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    #[serde(flatten)]
    body: C,
}

/// A JWT NumericDate: seconds, possibly fractional.
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum NumericDate {
    Int(i64),
    Float(f64),
}

impl NumericDate {
    /// Whole seconds (a fraction is truncated; the leeway dwarfs it).
    fn seconds(self) -> i64 {
        match self {
            NumericDate::Int(s) => s,
            // `as` saturates; a NaN cannot come out of JSON.
            NumericDate::Float(s) => s as i64,
        }
    }
}

/// Verifies one signed item and returns its item-specific claims.
///
/// `now` is the current time in Unix seconds.
pub(crate) fn verify_item<C: DeserializeOwned>(item: &Value, now: i64) -> Result<C, VerifyError> {
    let field = |name: &'static str| {
        item.get(name)
            .and_then(Value::as_str)
            .ok_or(VerifyError::MissingField(name))
    };
    let public_key = field("public_key")?;
    let token = field("encrypted_payload")?;
    let key_id = item.get("key_id").and_then(Value::as_str);

    let header =
        jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Token(e.to_string()))?;
    if let (Some(expected), Some(found)) = (key_id, header.kid.as_deref())
        && expected != found
    {
        return Err(VerifyError::KidMismatch {
            expected: expected.to_owned(),
            found: found.to_owned(),
        });
    }

    let key = DecodingKey::from_rsa_pem(public_key.as_bytes())
        .map_err(|e| VerifyError::BadKey(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["iss"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Envelope<C>>(token, &key, &validation)
        .map_err(|e| VerifyError::Token(e.to_string()))?;
    let claims = data.claims;

    if let Some(exp) = claims.exp.map(NumericDate::seconds)
        && exp.saturating_add(LEEWAY_SECS) < now
    {
        return Err(VerifyError::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf.map(NumericDate::seconds)
        && nbf > now.saturating_add(LEEWAY_SECS)
    {
        return Err(VerifyError::NotYetValid { nbf, now });
    }
    if let Some(iat) = claims.iat.map(NumericDate::seconds)
        && iat > now.saturating_add(LEEWAY_SECS)
    {
        return Err(VerifyError::IssuedInFuture { iat, now });
    }
    Ok(claims.body)
}

/// The current time in Unix seconds (0 if the clock is before 1970, which fails `exp` safely).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct Body {
        configs: Vec<Value>,
    }

    const NOW: i64 = 1_754_600_000;

    fn claims() -> Value {
        json!({"iss": "aicm-api", "sub": "api-key-id", "iat": NOW - 10, "jti": "config",
               "version": "v1", "key_id": "k1",
               "configs": [{"config_id": "cfg", "manual_usage_schema": {"b": "int", "a": "str"}}]})
    }

    fn check(claims: &Value) -> Result<Body, VerifyError> {
        verify_item(
            &signed_item(claims, &test_private(), &test_public(), "k1"),
            NOW,
        )
    }

    #[test]
    fn valid_token_is_accepted() {
        let body = check(&claims()).unwrap();
        assert_eq!(body.configs[0]["config_id"], "cfg");
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let mut item = signed_item(&claims(), &test_private(), &test_public(), "k1");
        let token = item["encrypted_payload"].as_str().unwrap().to_owned();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["configs"][0]["config_id"] = json!("evil");
        parts[1] = b64url(&serde_json::to_vec(&forged).unwrap());
        item["encrypted_payload"] = json!(parts.join("."));
        let err = verify_item::<Body>(&item, NOW).unwrap_err();
        assert!(
            matches!(err, VerifyError::Token(ref m) if m.contains("InvalidSignature")),
            "{err}"
        );
    }

    #[test]
    fn wrong_issuer_is_rejected() {
        let mut c = claims();
        c["iss"] = json!("someone-else");
        let err = check(&c).unwrap_err();
        assert!(
            matches!(err, VerifyError::Token(ref m) if m.contains("InvalidIssuer")),
            "{err}"
        );
        c.as_object_mut().unwrap().remove("iss");
        assert!(check(&c).is_err());
    }

    #[test]
    fn wrong_key_is_rejected() {
        // Signed with the other private key, shipped with the test public key.
        let item = signed_item(&claims(), &other_private(), &test_public(), "k1");
        let err = verify_item::<Body>(&item, NOW).unwrap_err();
        assert!(
            matches!(err, VerifyError::Token(ref m) if m.contains("InvalidSignature")),
            "{err}"
        );
    }

    #[test]
    fn kid_must_match_key_id() {
        let mut item = signed_item(&claims(), &test_private(), &test_public(), "k1");
        item["key_id"] = json!("k2");
        let err = verify_item::<Body>(&item, NOW).unwrap_err();
        assert!(matches!(err, VerifyError::KidMismatch { .. }), "{err}");
    }

    #[test]
    fn garbage_key_and_token_are_rejected() {
        let mut item = signed_item(&claims(), &test_private(), &test_public(), "k1");
        item["public_key"] = json!("not a pem");
        assert!(matches!(
            verify_item::<Body>(&item, NOW),
            Err(VerifyError::BadKey(_))
        ));
        let mut item = signed_item(&claims(), &test_private(), &test_public(), "k1");
        item["encrypted_payload"] = json!("a.b");
        assert!(matches!(
            verify_item::<Body>(&item, NOW),
            Err(VerifyError::Token(_))
        ));
        item.as_object_mut().unwrap().remove("encrypted_payload");
        assert_eq!(
            verify_item::<Body>(&item, NOW).unwrap_err(),
            VerifyError::MissingField("encrypted_payload")
        );
    }

    #[test]
    fn other_algorithms_are_rejected() {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(test_public().as_bytes()),
        )
        .unwrap();
        let item = json!({"public_key": test_public(), "key_id": "k1", "encrypted_payload": token});
        assert!(verify_item::<Body>(&item, NOW).is_err());
    }

    #[test]
    fn exp_is_optional_but_enforced_with_leeway() {
        let mut c = claims();
        assert!(c.get("exp").is_none());
        assert!(check(&c).is_ok());
        c["exp"] = json!(NOW - 30);
        assert!(check(&c).is_ok(), "within leeway");
        c["exp"] = json!(NOW - LEEWAY_SECS - 1);
        assert!(matches!(check(&c), Err(VerifyError::Expired { .. })));
        c["exp"] = json!("soon");
        assert!(matches!(check(&c), Err(VerifyError::Token(_))));
    }

    #[test]
    fn future_iat_beyond_leeway_is_rejected() {
        let mut c = claims();
        c["iat"] = json!(NOW + 30);
        assert!(check(&c).is_ok(), "within leeway");
        c["iat"] = json!(NOW + LEEWAY_SECS + 1);
        assert!(matches!(check(&c), Err(VerifyError::IssuedInFuture { .. })));
    }

    #[test]
    fn nbf_is_enforced_with_leeway() {
        let mut c = claims();
        c["nbf"] = json!(NOW + 30);
        assert!(check(&c).is_ok());
        c["nbf"] = json!(NOW + 600);
        assert!(matches!(check(&c), Err(VerifyError::NotYetValid { .. })));
    }

    #[test]
    fn sub_and_jti_must_be_strings() {
        let mut c = claims();
        c["sub"] = json!(42);
        assert!(check(&c).is_err());
        let mut c = claims();
        c["jti"] = json!({"x": 1});
        assert!(check(&c).is_err());
    }

    #[test]
    fn real_clock_accepts_a_fresh_token() {
        let mut c = claims();
        c["iat"] = json!(unix_now());
        c["exp"] = json!(unix_now() + 3600);
        let item = signed_item(&c, &test_private(), &test_public(), "k1");
        assert!(verify_item::<Body>(&item, unix_now()).is_ok());
    }
}
