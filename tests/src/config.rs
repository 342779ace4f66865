//! The configs document the local API serves (`--configs FILE`), and triggered limits.
//!
//! Field order of each `manual_usage_schema` is kept exactly as written, because clients
//! (codegen, the derive's schema comparison) care about it and serde_json's `Map` would sort it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::LocalApiError;

/// `last_updated` of a config whose file entry has none: fixed, so payloads and ETags are
/// reproducible (never "now").
pub const DEFAULT_LAST_UPDATED: &str = "1970-01-01T00:00:00Z";

/// The committed sample configs (a copy of `shared/schemas/configs.json`).
const FIXTURE_JSON: &str = include_str!("../fixtures/configs.json");

/// The path of the committed sample configs file, `tests/fixtures/configs.json`.
///
/// Examples and the codegen drift check read the same file the server serves by default.
pub fn fixture_configs_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/configs.json")
}

/// A configs document: the API key the server accepts, the configs it serves, and the
/// service keys `POST /track` knows.
///
/// ```json
/// {"api_key": "sk-local-test",
///  "configs": [{"config_id": "cfg", "service_id": "svc", "api_id": "manual",
///               "manual_usage_schema": {"tokens": "int"}, "last_updated": "2025-08-07T00:00:00Z"}],
///  "service_keys": ["openai::gpt-5-mini"]}
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigsFile {
    /// The only key `Authorization: Bearer …` may carry.
    pub api_key: String,
    /// The configs, served in this order.
    pub configs: Vec<ConfigEntry>,
    /// Limits reported as triggered from the start (usually none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_limits: Vec<TriggeredLimit>,
    /// Service keys `POST /track` accepts besides every config's `service_id`
    /// (`"<vendor>::<service>"`, e.g. `openai::gpt-5-mini`). Records for any other key are
    /// answered `service_key_unknown`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_keys: Vec<String>,
}

impl fmt::Debug for ConfigsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigsFile")
            .field("api_key", &"<redacted>")
            .field("configs", &self.configs)
            .field("triggered_limits", &self.triggered_limits)
            .field("service_keys", &self.service_keys)
            .finish()
    }
}

impl ConfigsFile {
    /// An empty document accepting `api_key`.
    pub fn new(api_key: impl Into<String>) -> ConfigsFile {
        ConfigsFile {
            api_key: api_key.into(),
            configs: Vec::new(),
            triggered_limits: Vec::new(),
            service_keys: Vec::new(),
        }
    }

    /// The committed sample document (`tests/fixtures/configs.json`, API key `sk-local-test`).
    ///
    /// It is embedded at compile time, so it works wherever the binary runs.
    pub fn fixture() -> ConfigsFile {
        // The fixture is committed and checked by the tests, so parsing cannot fail in practice;
        // fall back to an empty document rather than panic in library code.
        match ConfigsFile::from_json_str(FIXTURE_JSON) {
            Ok(file) => file,
            Err(error) => {
                tracing::error!(%error, "the embedded configs fixture is invalid");
                ConfigsFile::new("sk-local-test")
            }
        }
    }

    /// Parses and checks a configs document (every schema, unique config ids).
    pub fn from_json_str(json: &str) -> Result<ConfigsFile, LocalApiError> {
        let file: ConfigsFile = serde_json::from_str(json).map_err(LocalApiError::ConfigsJson)?;
        file.check()?;
        Ok(file)
    }

    /// Reads and checks a configs document from a file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<ConfigsFile, LocalApiError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LocalApiError::Read {
            path: path.to_owned(),
            source,
        })?;
        ConfigsFile::from_json_str(&text)
    }

    /// Adds or replaces (by `config_id`) a config; builder style.
    #[must_use]
    pub fn with_config(mut self, entry: ConfigEntry) -> ConfigsFile {
        self.upsert(entry);
        self
    }

    /// Adds or replaces (by `config_id`) a config, keeping the position of a replaced one.
    pub fn upsert(&mut self, entry: ConfigEntry) {
        match self
            .configs
            .iter_mut()
            .find(|c| c.config_id == entry.config_id)
        {
            Some(existing) => *existing = entry,
            None => self.configs.push(entry),
        }
    }

    /// Adds a known service key (see [`ConfigsFile::service_keys`]) unless it is known
    /// already; builder style.
    #[must_use]
    pub fn with_service_key(mut self, service_key: impl Into<String>) -> ConfigsFile {
        let service_key = service_key.into();
        if !self.service_keys.contains(&service_key) {
            self.service_keys.push(service_key);
        }
        self
    }

    /// Whether `POST /track` knows `service_key`: a config's `service_id` or one of
    /// [`ConfigsFile::service_keys`].
    pub fn knows_service_key(&self, service_key: &str) -> bool {
        self.service_keys.iter().any(|k| k == service_key)
            || self
                .configs
                .iter()
                .any(|c| c.service_id.as_deref() == Some(service_key))
    }

    /// Every service key `POST /track` knows: each config's `service_id`, then
    /// [`ConfigsFile::service_keys`].
    pub fn known_service_keys(&self) -> std::collections::HashSet<String> {
        self.configs
            .iter()
            .filter_map(|c| c.service_id.clone())
            .chain(self.service_keys.iter().cloned())
            .collect()
    }

    /// The config called `config_id`.
    pub fn config(&self, config_id: &str) -> Option<&ConfigEntry> {
        self.configs.iter().find(|c| c.config_id == config_id)
    }

    /// Checks what serde cannot: schemas parse, config ids are unique.
    pub fn check(&self) -> Result<(), LocalApiError> {
        let mut seen = std::collections::HashSet::new();
        for entry in &self.configs {
            if !seen.insert(entry.config_id.as_str()) {
                return Err(LocalApiError::DuplicateConfig(entry.config_id.clone()));
            }
            entry.parsed_schema()?;
        }
        Ok(())
    }
}

/// One config: what a client needs to validate and send usage for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    /// The id clients pass to `Tracker::new`.
    pub config_id: String,
    /// The service id examples and codegen use. `POST /track-usage` does not enforce it;
    /// `POST /track` knows it as a service key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The API id (`manual` for manual usage tracking).
    #[serde(default = "default_api_id")]
    pub api_id: String,
    /// `(field, type string)` pairs in their written order; `None` is served as JSON `null`
    /// (a missing key in the file is `None` too). Both `None` and an empty list accept any usage.
    #[serde(default, with = "ordered_schema")]
    pub manual_usage_schema: Option<Vec<(String, String)>>,
    /// RFC 3339; served as [`DEFAULT_LAST_UPDATED`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// The config's uuid; derived from `config_id` when absent, so it is stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Served as is in the claims; `{}` when absent.
    #[serde(default = "empty_object")]
    pub handling_config: Value,
}

fn default_api_id() -> String {
    "manual".to_owned()
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl ConfigEntry {
    /// A `manual` config with the given `(field, type string)` schema, in that order.
    pub fn new<K, V>(
        config_id: impl Into<String>,
        schema: impl IntoIterator<Item = (K, V)>,
    ) -> ConfigEntry
    where
        K: Into<String>,
        V: Into<String>,
    {
        ConfigEntry {
            config_id: config_id.into(),
            service_id: None,
            api_id: default_api_id(),
            manual_usage_schema: Some(
                schema
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            last_updated: None,
            uuid: None,
            handling_config: empty_object(),
        }
    }

    /// A `manual` config whose schema is JSON text such as `{"tokens": "int"}` (order kept).
    pub fn from_schema_json(
        config_id: impl Into<String>,
        schema_json: &str,
    ) -> Result<ConfigEntry, LocalApiError> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "ordered_schema")] Option<Vec<(String, String)>>);
        let config_id = config_id.into();
        let Wrapper(schema) =
            serde_json::from_str(schema_json).map_err(LocalApiError::ConfigsJson)?;
        let entry = ConfigEntry {
            manual_usage_schema: schema,
            ..ConfigEntry::new(config_id, Vec::<(String, String)>::new())
        };
        entry.parsed_schema()?;
        Ok(entry)
    }

    /// Sets the informational service id.
    #[must_use]
    pub fn service_id(mut self, service_id: impl Into<String>) -> ConfigEntry {
        self.service_id = Some(service_id.into());
        self
    }

    /// Sets `last_updated` (RFC 3339).
    #[must_use]
    pub fn last_updated(mut self, last_updated: impl Into<String>) -> ConfigEntry {
        self.last_updated = Some(last_updated.into());
        self
    }

    /// Sets the API id.
    #[must_use]
    pub fn api_id(mut self, api_id: impl Into<String>) -> ConfigEntry {
        self.api_id = api_id.into();
        self
    }

    /// Serves the schema as JSON `null` (which accepts any usage).
    #[must_use]
    pub fn null_schema(mut self) -> ConfigEntry {
        self.manual_usage_schema = None;
        self
    }

    /// The schema, parsed (empty for `None`).
    pub fn parsed_schema(&self) -> Result<aicm::schema::Schema, LocalApiError> {
        let pairs = self.manual_usage_schema.as_deref().unwrap_or_default();
        aicm::schema::Schema::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|source| LocalApiError::Schema {
                config_id: self.config_id.clone(),
                source,
            })
    }

    /// `last_updated` as served.
    pub fn last_updated_or_default(&self) -> &str {
        self.last_updated.as_deref().unwrap_or(DEFAULT_LAST_UPDATED)
    }

    /// The uuid as served: the given one, or one derived from `config_id`.
    pub fn uuid_or_derived(&self) -> String {
        match &self.uuid {
            Some(uuid) => uuid.clone(),
            None => {
                let a = fnv1a(self.config_id.as_bytes(), 0xcbf2_9ce4_8422_2325);
                let b = fnv1a(self.config_id.as_bytes(), 0x8422_2325_cbf2_9ce4);
                uuid::Builder::from_random_bytes(u128_bytes(a, b))
                    .into_uuid()
                    .to_string()
            }
        }
    }
}

fn u128_bytes(a: u64, b: u64) -> [u8; 16] {
    (u128::from(a) << 64 | u128::from(b)).to_be_bytes()
}

/// FNV-1a with a chosen basis: stable across runs and Rust versions.
pub(crate) fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A limit the server reports as triggered (inside the signed `triggered_limits` claims).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggeredLimit {
    /// The usage event that triggered it.
    pub event_id: String,
    /// The limit's id.
    pub limit_id: String,
    /// `alert` or `limit`.
    pub threshold_type: String,
    /// The threshold amount.
    pub amount: f64,
    /// `day` or `month`.
    pub period: String,
    /// Which vendor, configs and host the limit covers.
    #[serde(default)]
    pub vendor: LimitVendor,
    /// Today's claims (`POST /track`): the service key the limit covers; `None`: every
    /// service. Serialised only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key: Option<String>,
    /// Today's claims: the customer the limit covers; `None`: every customer. Serialised only
    /// when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key: Option<String>,
    /// Today's claims: what the limit is about. Serialised only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_context: Option<String>,
    /// Today's claims: a message for people. Serialised only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_message: Option<String>,
    /// The service the limit covers, if any.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The customer the limit covers, if any.
    #[serde(default)]
    pub client_customer_key: Option<String>,
    /// The API key id the limit belongs to.
    #[serde(default)]
    pub api_key_id: String,
    /// RFC 3339.
    #[serde(default)]
    pub triggered_at: String,
    /// RFC 3339, if the limit expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The `vendor` object of a [`TriggeredLimit`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitVendor {
    /// Vendor name.
    #[serde(default)]
    pub name: Option<String>,
    /// Config ids covered.
    #[serde(default)]
    pub config_ids: Option<Vec<String>>,
    /// Host name covered.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Serde for an ordered `{field: type string}` object (or `null`).
pub(crate) mod ordered_schema {
    use super::*;

    /// Serializes `None` as `null` and the pairs as an object in their order.
    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<(String, String)>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(pairs) => {
                let mut map = serializer.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }

    /// Deserializes `null` as `None` and an object of strings as ordered pairs.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<(String, String)>>, D::Error> {
        deserializer.deserialize_any(SchemaVisitor)
    }

    struct SchemaVisitor;

    impl<'de> Visitor<'de> for SchemaVisitor {
        type Value = Option<Vec<(String, String)>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of field names to type strings, or null")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(SchemaVisitor)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                match map.next_value::<Value>()? {
                    Value::String(ty) => pairs.push((key, ty)),
                    other => {
                        return Err(serde::de::Error::custom(format!(
                            "manual_usage_schema field `{key}` must be a type string, found {other}"
                        )));
                    }
                }
            }
            Ok(Some(pairs))
        }
    }
}
