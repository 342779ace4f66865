//! Signed items (`encrypted_payload` JWTs) and the pre-rendered `/configs` payload.
//!
//! Everything is signed once when configs, limits, keys or token faults change, not per
//! request: signing is the expensive part, and a stable body is what makes the ETag honest.

use axum::body::Bytes;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::LocalApiError;
use crate::config::{ConfigEntry, ConfigsFile, TriggeredLimit, fnv1a, ordered_schema};
use crate::keys::Keys;

/// The issuer clients require.
pub const ISSUER: &str = "aicm-api";
/// The `version` of every signed item.
pub const PAYLOAD_VERSION: &str = "v1";
/// The `sub` claim: the id of the (local) API key, never the key itself.
pub const SUBJECT: &str = "local-api-key";
/// The issuer of [`TokenFault::WrongIssuer`] tokens.
pub const WRONG_ISSUER: &str = "not-aicm-api";
/// The `sub` of the forged claims in [`TokenFault::Tampered`] tokens.
const FORGED_SUBJECT: &str = "forged";

/// A way to serve tokens that a correct client must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFault {
    /// Signed with the served key, but `iss` is [`WRONG_ISSUER`].
    WrongIssuer,
    /// The claims were changed after signing (the schema emptied, so anything would pass).
    Tampered,
    /// Signed with the foreign key while the normal public key is served.
    WrongKey,
}

/// The bodies and items served for one state of configs, limits, keys and token faults.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The `/configs` 200 body.
    pub(crate) configs_body: Bytes,
    /// Strong ETag of `configs_body`, quotes included.
    pub(crate) etag: String,
    /// The signed triggered-limits item.
    pub(crate) limits_item: Value,
    /// The `/triggered-limits` body.
    pub(crate) limits_body: Bytes,
}

#[derive(Serialize)]
struct ConfigClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    jti: &'a str,
    version: &'a str,
    key_id: &'a str,
    configs: Vec<ClaimConfig<'a>>,
}

#[derive(Serialize)]
struct ClaimConfig<'a> {
    uuid: String,
    config_id: &'a str,
    api_id: &'a str,
    last_updated: &'a str,
    handling_config: &'a Value,
    #[serde(serialize_with = "serialize_schema")]
    manual_usage_schema: &'a Option<Vec<(String, String)>>,
}

fn serialize_schema<S: Serializer>(
    schema: &&Option<Vec<(String, String)>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    ordered_schema::serialize(schema, serializer)
}

#[derive(Serialize)]
struct LimitClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    jti: &'a str,
    version: &'a str,
    key_id: &'a str,
    triggered_limits: &'a [TriggeredLimit],
}

/// Renders every body for the given state.
pub(crate) fn render(
    configs: &ConfigsFile,
    limits: &[TriggeredLimit],
    keys: &Keys,
    config_fault: Option<TokenFault>,
    limits_fault: Option<TokenFault>,
) -> Result<Rendered, LocalApiError> {
    let iat = now_unix();
    let mut service_configs = Vec::with_capacity(configs.configs.len());
    for entry in &configs.configs {
        let token = sign_config(entry, keys, iat, config_fault)?;
        service_configs.push(json!({
            "config_id": entry.config_id,
            "api_id": entry.api_id,
            "version": PAYLOAD_VERSION,
            "public_key": keys.public_pem,
            "key_id": keys.key_id,
            "encrypted_payload": token,
        }));
    }
    let limits_item = signed_item(&sign_limits(limits, keys, iat, limits_fault)?, keys);
    let configs_body = serde_json::to_vec(&json!({
        "service_configs": service_configs,
        "triggered_limits": limits_item,
    }))
    .map_err(LocalApiError::ConfigsJson)?;
    let limits_body = serde_json::to_vec(&json!({ "triggered_limits": limits_item }))
        .map_err(LocalApiError::ConfigsJson)?;
    let etag = format!("\"{:016x}\"", fnv1a(&configs_body, 0xcbf2_9ce4_8422_2325));
    Ok(Rendered {
        configs_body: Bytes::from(configs_body),
        etag,
        limits_item,
        limits_body: Bytes::from(limits_body),
    })
}

fn signed_item(token: &str, keys: &Keys) -> Value {
    json!({
        "version": PAYLOAD_VERSION,
        "public_key": keys.public_pem,
        "key_id": keys.key_id,
        "encrypted_payload": token,
    })
}

fn sign_config(
    entry: &ConfigEntry,
    keys: &Keys,
    iat: i64,
    fault: Option<TokenFault>,
) -> Result<String, LocalApiError> {
    let claims = |iss, sub, schema| ConfigClaims {
        iss,
        sub,
        iat,
        jti: "config",
        version: PAYLOAD_VERSION,
        key_id: &keys.key_id,
        configs: vec![ClaimConfig {
            uuid: entry.uuid_or_derived(),
            config_id: &entry.config_id,
            api_id: &entry.api_id,
            last_updated: entry.last_updated_or_default(),
            handling_config: &entry.handling_config,
            manual_usage_schema: schema,
        }],
    };
    let schema = &entry.manual_usage_schema;
    match fault {
        None => sign(&claims(ISSUER, SUBJECT, schema), &keys.signing, keys),
        Some(TokenFault::WrongIssuer) => {
            sign(&claims(WRONG_ISSUER, SUBJECT, schema), &keys.signing, keys)
        }
        Some(TokenFault::WrongKey) => sign(&claims(ISSUER, SUBJECT, schema), &keys.foreign, keys),
        Some(TokenFault::Tampered) => {
            let genuine = sign(&claims(ISSUER, SUBJECT, schema), &keys.signing, keys)?;
            // The forgery empties the schema (so any usage would pass) and names another
            // subject, so it differs from the genuine claims even for an empty schema.
            let empty = Some(Vec::new());
            let forged = sign(&claims(ISSUER, FORGED_SUBJECT, &empty), &keys.signing, keys)?;
            Ok(splice(&forged, &genuine))
        }
    }
}

fn sign_limits(
    limits: &[TriggeredLimit],
    keys: &Keys,
    iat: i64,
    fault: Option<TokenFault>,
) -> Result<String, LocalApiError> {
    let claims = |iss, sub, limits| LimitClaims {
        iss,
        sub,
        iat,
        jti: "tl",
        version: PAYLOAD_VERSION,
        key_id: &keys.key_id,
        triggered_limits: limits,
    };
    match fault {
        None => sign(&claims(ISSUER, SUBJECT, limits), &keys.signing, keys),
        Some(TokenFault::WrongIssuer) => {
            sign(&claims(WRONG_ISSUER, SUBJECT, limits), &keys.signing, keys)
        }
        Some(TokenFault::WrongKey) => sign(&claims(ISSUER, SUBJECT, limits), &keys.foreign, keys),
        Some(TokenFault::Tampered) => {
            let genuine = sign(&claims(ISSUER, SUBJECT, limits), &keys.signing, keys)?;
            // The forgery claims that no limit is active.
            let forged = sign(&claims(ISSUER, FORGED_SUBJECT, &[]), &keys.signing, keys)?;
            Ok(splice(&forged, &genuine))
        }
    }
}

fn sign<T: Serialize>(claims: &T, key: &EncodingKey, keys: &Keys) -> Result<String, LocalApiError> {
    let header = Header {
        kid: Some(keys.key_id.clone()),
        ..Header::new(Algorithm::RS256)
    };
    jsonwebtoken::encode(&header, claims, key).map_err(LocalApiError::Sign)
}

/// The forged token's header and claims with the genuine token's signature.
fn splice(forged: &str, genuine: &str) -> String {
    let head = forged.rsplit_once('.').map_or(forged, |(head, _)| head);
    let signature = genuine.rsplit_once('.').map_or("", |(_, sig)| sig);
    format!("{head}.{signature}")
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
