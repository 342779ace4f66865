//! A door for the cross-crate tests (`aicm-tests`) to drive the [`ConfigStore`] against the
//! local API over HTTP, independently of the Tracker that wraps it. Behind the `testing`
//! feature and hidden: not public API, no stability promise.

use std::path::PathBuf;

use serde_json::Value;

use super::{ConfigStore, LoadedConfig, TriggeredLimit};
use crate::Error;
use crate::api::ApiClient;
use crate::settings::{Settings, SettingsOverrides};

/// A private (unshared) config store for one API base, key and INI path.
#[derive(Debug, Clone)]
pub struct ConfigProbe {
    store: ConfigStore,
}

impl ConfigProbe {
    /// Settings come only from the arguments (the environment is not read), so parallel tests
    /// cannot disturb each other.
    pub fn new(
        api_key: &str,
        api_base: &str,
        ini_path: impl Into<PathBuf>,
    ) -> Result<ConfigProbe, Error> {
        let settings = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some(api_key.to_owned()),
                api_base: Some(api_base.to_owned()),
                api_url: None,
                ini_path: Some(ini_path.into()),
            },
            |_| None,
        )?;
        let api = ApiClient::new(None, &settings)?;
        Ok(ConfigProbe {
            store: ConfigStore::new(api, settings.ini_path),
        })
    }

    /// `ConfigStore::load_config`.
    pub async fn load_config(&self, config_id: &str) -> Result<LoadedConfig, Error> {
        self.store.load_config(config_id).await
    }

    /// `ConfigStore::refresh`.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.store.refresh().await
    }

    /// `ConfigStore::triggered_limits`.
    pub fn triggered_limits(&self, customer_key: Option<&str>) -> Vec<TriggeredLimit> {
        self.store.triggered_limits(customer_key)
    }

    /// `ConfigStore::update_triggered_limits_from_response`.
    pub fn update_triggered_limits_from_response(&self, item: &Value) {
        self.store.update_triggered_limits_from_response(item);
    }

    /// `ConfigStore::flush_ini`.
    pub async fn flush_ini(&self) {
        self.store.flush_ini().await;
    }
}
