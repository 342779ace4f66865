//! Every verified config of an account at once, for tools (such as `aicm-codegen`) that work
//! on schemas rather than on usage.
//!
//! It goes through the same settings, HTTP client, signed-config verification and `AICM.INI`
//! cache as a [`Tracker`](crate::Tracker), so a tool sees exactly the configs a Tracker would.
//! Unlike a Tracker it never falls back to the cache when the API cannot be reached: a tool
//! generating code from a stale schema would hide the very drift it is asked to find.

use crate::config::ConfigStore;
use crate::settings::{Settings, SettingsOverrides};
use crate::{Error, LoadedConfig};

/// Fetches (and verifies) every config the API serves for the key in `AICM_API_KEY`, at
/// `AICM_API_BASE` + `AICM_API_URL`, sending the ETag cached in `AICM.INI` (`AICM_INI_PATH`)
/// and updating that cache as a Tracker would.
///
/// Items that fail signature verification are skipped (and logged), as for a Tracker. A config
/// whose `manual_usage_schema` does not parse comes back as its own
/// [`Error::InvalidSchema`], so one bad schema does not hide the others. The outer error is
/// for settings ([`Error::MissingApiKey`], ...) and for an API that could not be reached or
/// refused the request ([`Error::Unreachable`], [`Error::Api`], [`Error::InvalidResponse`]).
pub async fn fetch_all_configs() -> Result<Vec<Result<LoadedConfig, Error>>, Error> {
    let settings = Settings::resolve(SettingsOverrides::default())?;
    let api = crate::api::ApiClient::new(None, &settings)?;
    let store = ConfigStore::new(api, settings.ini_path.clone());
    store.refresh().await?;
    store.flush_ini().await;
    Ok(store.all_configs())
}

/// [`fetch_all_configs`] for synchronous callers (command-line tools, build scripts).
///
/// It runs the fetch on a thread and runtime of its own, so it works with or without a tokio
/// runtime around it; inside one it blocks the calling thread until the fetch is done, so
/// async code should await [`fetch_all_configs`] instead.
pub fn fetch_all_configs_blocking() -> Result<Vec<Result<LoadedConfig, Error>>, Error> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        Error::Worker(format!("could not start a runtime to fetch configs: {e}"))
                    })?;
                runtime.block_on(fetch_all_configs())
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Worker("the config fetch panicked".to_owned())))
    })
}
