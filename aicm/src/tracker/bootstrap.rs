//! Start-up: settings, and the config (with its schema) a Tracker is for.
//!
//! TEMPORARY minimal implementation until the settings / signed-config / AICM.INI modules land:
//! env + builder settings, and an unverified read of `GET /configs`.

use std::path::PathBuf;

use aicm_schema::RawSchema;
use serde::Deserialize;

use crate::Error;

/// Builder values before the environment and defaults are applied.
#[derive(Default, Clone)]
pub(crate) struct Overrides {
    pub api_key: Option<String>,
    pub api_base: Option<String>,
    pub api_url: Option<String>,
    pub ini_path: Option<PathBuf>,
}

pub(crate) struct Settings {
    pub api_key: String,
    pub api_root: String,
    pub ini_path: PathBuf,
}

pub(crate) fn resolve(o: &Overrides) -> Result<Settings, Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let api_key = o
        .api_key
        .clone()
        .or_else(|| env("AICM_API_KEY"))
        .filter(|k| !k.trim().is_empty())
        .ok_or(Error::MissingApiKey)?;
    let base = o
        .api_base
        .clone()
        .or_else(|| env("AICM_API_BASE"))
        .unwrap_or_else(|| "https://aicostmanager.com".to_owned());
    let url = o
        .api_url
        .clone()
        .or_else(|| env("AICM_API_URL"))
        .unwrap_or_else(|| "/api/v1".to_owned());
    let ini_path = o
        .ini_path
        .clone()
        .or_else(|| env("AICM_INI_PATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("AICM.INI"));
    Ok(Settings {
        api_key,
        api_root: format!("{}{}", base.trim_end_matches('/'), url),
        ini_path,
    })
}

/// The config a Tracker is for.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub schema: aicm_schema::Schema,
}

#[derive(Deserialize)]
struct Body {
    service_configs: Vec<Item>,
}
#[derive(Deserialize)]
struct Item {
    encrypted_payload: String,
}
#[derive(Deserialize)]
struct Claims {
    configs: Vec<ConfigClaim>,
}
#[derive(Deserialize)]
struct ConfigClaim {
    config_id: String,
    #[serde(default)]
    manual_usage_schema: RawSchema,
}

pub(crate) async fn load(
    http: &reqwest::Client,
    s: &Settings,
    config_id: &str,
) -> Result<Loaded, Error> {
    let url = format!("{}/configs", s.api_root);
    let resp = http
        .get(&url)
        .bearer_auth(&s.api_key)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            url: url.clone(),
            message: crate::delivery::send::describe_reqwest_error(&e),
        })?;
    let bytes = resp.bytes().await.map_err(|e| Error::Unreachable {
        url: url.clone(),
        message: crate::delivery::send::describe_reqwest_error(&e),
    })?;
    let body: Body = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse {
        url: url.clone(),
        message: e.to_string(),
    })?;
    let mut known = Vec::new();
    for item in body.service_configs {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.insecure_disable_signature_validation();
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let Ok(data) = jsonwebtoken::decode::<Claims>(
            &item.encrypted_payload,
            &jsonwebtoken::DecodingKey::from_secret(b""),
            &validation,
        ) else {
            continue;
        };
        for c in data.claims.configs {
            if c.config_id == config_id {
                let schema =
                    c.manual_usage_schema
                        .parse()
                        .map_err(|source| Error::InvalidSchema {
                            config_id: config_id.to_owned(),
                            source,
                        })?;
                return Ok(Loaded { schema });
            }
            known.push(c.config_id);
        }
    }
    Err(Error::ConfigNotFound {
        config_id: config_id.to_owned(),
        known,
    })
}
