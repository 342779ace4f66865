//! Where the tracker's connection settings come from: builder value, else environment, else
//! default (DESIGN.md "Settings", API.md "Addressing").
//!
//! Environment reading goes through a lookup function so tests can supply their own variables
//! instead of mutating the process environment, which races between parallel test threads.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// Default `AICM_API_BASE`.
pub(crate) const DEFAULT_API_BASE: &str = "https://aicostmanager.com";
/// Default `AICM_API_URL`.
pub(crate) const DEFAULT_API_URL: &str = "/api/v1";

/// An AICostManager API key that never prints itself.
///
/// `Debug` and `Display` both show a redaction, so a key inside a struct that derives `Debug`,
/// a log line or an error message cannot leak; the only way to the text is [`ApiKey::expose`],
/// which is meant for the `Authorization` header and nothing else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ApiKey(Box<str>);

impl ApiKey {
    /// Trims surrounding whitespace (a pasted key often carries a newline); an empty key is
    /// [`Error::MissingApiKey`], which is clearer than the 401 it would cause later.
    pub(crate) fn new(key: impl Into<String>) -> Result<ApiKey, Error> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(Error::MissingApiKey);
        }
        Ok(ApiKey(trimmed.into()))
    }

    /// The key itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The key's id, which triggered limits name: the text after its last `.`; `None` when
    /// the key has none. Part of the secret's text, so never logged either.
    pub(crate) fn id(&self) -> Option<&str> {
        crate::config::limits::api_key_id(&self.0)
    }

    /// Removes every occurrence of the key from `text`, for messages built from foreign error
    /// text (a server echoing the header, a proxy's error page) that we cannot vouch for.
    pub(crate) fn scrub(&self, text: &str) -> String {
        text.replace(self.expose(), "(redacted)")
    }

    /// A well-known prefix such as `sk-` tells the reader which kind of key was used without
    /// revealing any of its secret part; keys too short to afford that show nothing.
    fn visible_prefix(&self) -> &str {
        match self.0.find('-') {
            Some(i) if i <= 3 && self.0.len() >= 20 => &self.0[..=i],
            _ => "",
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({self})")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…(redacted)", self.visible_prefix())
    }
}

/// What the `TrackerBuilder` was told; `None` means "ask the environment, then the default".
#[derive(Clone, Default)]
pub(crate) struct SettingsOverrides {
    /// `TrackerBuilder::api_key`. An explicitly empty key is an error, not a fall-back to the
    /// environment: silently using some other key would be the worse surprise.
    pub(crate) api_key: Option<String>,
    /// `TrackerBuilder::api_base`.
    pub(crate) api_base: Option<String>,
    /// `TrackerBuilder::api_url`.
    pub(crate) api_url: Option<String>,
    /// `TrackerBuilder::ini_path`.
    pub(crate) ini_path: Option<PathBuf>,
}

impl fmt::Debug for SettingsOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsOverrides")
            .field("api_key", &self.api_key.as_ref().map(|_| "(redacted)"))
            .field("api_base", &self.api_base)
            .field("api_url", &self.api_url)
            .field("ini_path", &self.ini_path)
            .finish()
    }
}

/// Resolved connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) api_key: ApiKey,
    pub(crate) api_base: String,
    pub(crate) api_url: String,
    pub(crate) ini_path: PathBuf,
}

impl Settings {
    /// Resolves against the process environment.
    pub(crate) fn resolve(overrides: SettingsOverrides) -> Result<Settings, Error> {
        Self::resolve_with(overrides, |name| std::env::var_os(name))
    }

    /// Resolves with `lookup` standing in for the environment. An empty variable counts as
    /// unset, as it does for the Python SDK (`os.getenv(...) or default`).
    pub(crate) fn resolve_with(
        overrides: SettingsOverrides,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, Error> {
        let env = |name: &'static str| -> Result<Option<String>, Error> {
            match lookup(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|_| Error::InvalidSetting {
                        name,
                        message: "is not valid UTF-8".to_owned(),
                    }),
            }
        };

        let api_key = match overrides.api_key {
            Some(key) => ApiKey::new(key)?,
            // A non-UTF-8 key cannot be sent in a header; report it as missing rather than
            // echoing any part of it.
            None => match env("AICM_API_KEY") {
                Ok(Some(key)) => ApiKey::new(key)?,
                Ok(None) | Err(_) => return Err(Error::MissingApiKey),
            },
        };

        let (api_base, base_source) = match overrides.api_base {
            Some(base) => (base, "TrackerBuilder::api_base"),
            None => match env("AICM_API_BASE")? {
                Some(base) => (base, "AICM_API_BASE"),
                None => (DEFAULT_API_BASE.to_owned(), "AICM_API_BASE"),
            },
        };
        let api_base = api_base.trim().to_owned();
        check_base(&api_base, base_source)?;

        // A builder value is taken as is, even empty (a base that already ends in the path).
        let api_url = match overrides.api_url {
            Some(url) => url,
            None => env("AICM_API_URL")?.unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        };

        let ini_path = match overrides.ini_path {
            Some(path) => path,
            None => match lookup("AICM_INI_PATH") {
                Some(path) if !path.is_empty() => PathBuf::from(path),
                _ => default_ini_path(&lookup)?,
            },
        };

        Ok(Settings {
            api_key,
            api_base,
            api_url,
            ini_path,
        })
    }

    /// The API root every path is appended to: base without trailing `/`, then the URL as is.
    pub(crate) fn api_root(&self) -> String {
        format!("{}{}", self.api_base.trim_end_matches('/'), self.api_url)
    }
}

/// Where the durable spool lives: `TrackerBuilder::spool`, else `AICM_SPOOL_PATH` (empty counts
/// as unset), else none. With the name of the setting it came from, for errors.
pub(crate) fn spool_path(
    builder: Option<PathBuf>,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Option<(PathBuf, &'static str)> {
    match builder {
        Some(path) => Some((path, "TrackerBuilder::spool")),
        None => lookup("AICM_SPOOL_PATH")
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), "AICM_SPOOL_PATH")),
    }
}

fn check_base(base: &str, name: &'static str) -> Result<(), Error> {
    let lower = base.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => Err(Error::InvalidSetting {
            name,
            message: format!("`{base}` is not an http(s) URL such as {DEFAULT_API_BASE}"),
        }),
    }
}

/// `~/.config/aicostmanager/AICM.INI`, the Python SDK's default, so both share one cache.
fn default_ini_path(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, Error> {
    let home = ["HOME", "USERPROFILE"]
        .into_iter()
        .find_map(|name| lookup(name).filter(|v| !v.is_empty()));
    match home {
        Some(home) => Ok(PathBuf::from(home)
            .join(".config")
            .join("aicostmanager")
            .join("AICM.INI")),
        None => Err(Error::InvalidSetting {
            name: "AICM_INI_PATH",
            message: "unset and no home directory (HOME) to put the default under".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "sk-0123456789abcdefSECRET";

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(*v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn key_is_redacted_in_debug_and_display() {
        let key = ApiKey::new(KEY).unwrap();
        let debug = format!("{key:?}");
        let display = key.to_string();
        assert!(
            !debug.contains("SECRET") && !debug.contains("0123"),
            "{debug}"
        );
        assert!(
            !display.contains("SECRET") && !display.contains("0123"),
            "{display}"
        );
        assert_eq!(display, "sk-…(redacted)");
        assert_eq!(debug, "ApiKey(sk-…(redacted))");
        assert_eq!(key.expose(), KEY);
    }

    #[test]
    fn short_keys_show_no_prefix() {
        let key = ApiKey::new("sk-short").unwrap();
        assert_eq!(key.to_string(), "…(redacted)");
    }

    #[test]
    fn settings_debug_never_shows_the_key() {
        let settings = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some(KEY.into()),
                ..Default::default()
            },
            env(&[("HOME", "/home/u")]),
        )
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        let overrides = SettingsOverrides {
            api_key: Some(KEY.into()),
            ..Default::default()
        };
        assert!(!format!("{overrides:?}").contains("SECRET"));
    }

    #[test]
    fn scrub_removes_the_key() {
        let key = ApiKey::new(KEY).unwrap();
        assert_eq!(
            key.scrub(&format!("bad header Bearer {KEY}!")),
            "bad header Bearer (redacted)!"
        );
    }

    #[test]
    fn errors_about_settings_never_contain_the_key() {
        // A bad base next to a real key: the message names the base only.
        let err = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some(KEY.into()),
                api_base: Some("ftp://x".into()),
                ..Default::default()
            },
            env(&[("HOME", "/h")]),
        )
        .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(matches!(
            err,
            Error::InvalidSetting {
                name: "TrackerBuilder::api_base",
                ..
            }
        ));
    }

    #[test]
    fn missing_or_empty_key_is_an_error() {
        let missing = Settings::resolve_with(SettingsOverrides::default(), env(&[("HOME", "/h")]));
        assert!(matches!(missing, Err(Error::MissingApiKey)));
        let empty_env = Settings::resolve_with(
            SettingsOverrides::default(),
            env(&[("HOME", "/h"), ("AICM_API_KEY", "")]),
        );
        assert!(matches!(empty_env, Err(Error::MissingApiKey)));
        let blank_builder = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some("  \n".into()),
                ..Default::default()
            },
            env(&[("HOME", "/h"), ("AICM_API_KEY", "sk-from-env")]),
        );
        assert!(matches!(blank_builder, Err(Error::MissingApiKey)));
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = Settings::resolve_with(
            SettingsOverrides::default(),
            env(&[("AICM_API_KEY", "sk-env"), ("HOME", "/home/u")]),
        )
        .unwrap();
        assert_eq!(s.api_key.expose(), "sk-env");
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert_eq!(
            s.ini_path,
            PathBuf::from("/home/u/.config/aicostmanager/AICM.INI")
        );
        assert_eq!(s.api_root(), "https://aicostmanager.com/api/v1");
    }

    #[test]
    fn env_beats_default_and_builder_beats_env() {
        let vars = [
            ("AICM_API_KEY", "sk-env"),
            ("AICM_API_BASE", "http://127.0.0.1:9000/"),
            ("AICM_API_URL", "/v2"),
            ("AICM_INI_PATH", "/tmp/env.ini"),
            ("HOME", "/home/u"),
        ];
        let from_env = Settings::resolve_with(SettingsOverrides::default(), env(&vars)).unwrap();
        assert_eq!(from_env.api_key.expose(), "sk-env");
        assert_eq!(from_env.api_root(), "http://127.0.0.1:9000/v2");
        assert_eq!(from_env.ini_path, PathBuf::from("/tmp/env.ini"));

        let from_builder = Settings::resolve_with(
            SettingsOverrides {
                api_key: Some("sk-builder".into()),
                api_base: Some("https://example.test".into()),
                api_url: Some(String::new()),
                ini_path: Some("/tmp/builder.ini".into()),
            },
            env(&vars),
        )
        .unwrap();
        assert_eq!(from_builder.api_key.expose(), "sk-builder");
        assert_eq!(from_builder.api_root(), "https://example.test");
        assert_eq!(from_builder.ini_path, PathBuf::from("/tmp/builder.ini"));
    }

    #[test]
    fn empty_env_values_count_as_unset() {
        let s = Settings::resolve_with(
            SettingsOverrides::default(),
            env(&[
                ("AICM_API_KEY", "sk-env"),
                ("AICM_API_BASE", ""),
                ("AICM_API_URL", ""),
                ("AICM_INI_PATH", ""),
                ("HOME", "/home/u"),
            ]),
        )
        .unwrap();
        assert_eq!(s.api_root(), "https://aicostmanager.com/api/v1");
        assert_eq!(
            s.ini_path,
            PathBuf::from("/home/u/.config/aicostmanager/AICM.INI")
        );
    }

    #[test]
    fn bad_base_from_env_names_the_variable() {
        let err = Settings::resolve_with(
            SettingsOverrides::default(),
            env(&[("AICM_API_KEY", "k"), ("AICM_API_BASE", "localhost:8000")]),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidSetting {
                name: "AICM_API_BASE",
                ..
            }
        ));
    }

    #[test]
    fn spool_path_comes_from_the_builder_then_the_environment() {
        assert_eq!(spool_path(None, env(&[])), None);
        assert_eq!(spool_path(None, env(&[("AICM_SPOOL_PATH", "")])), None);
        assert_eq!(
            spool_path(None, env(&[("AICM_SPOOL_PATH", "/var/a.spool")])),
            Some((PathBuf::from("/var/a.spool"), "AICM_SPOOL_PATH"))
        );
        assert_eq!(
            spool_path(
                Some("/b.spool".into()),
                env(&[("AICM_SPOOL_PATH", "/var/a.spool")])
            ),
            Some((PathBuf::from("/b.spool"), "TrackerBuilder::spool"))
        );
    }

    #[test]
    fn no_home_and_no_ini_path_is_a_setting_error() {
        let err =
            Settings::resolve_with(SettingsOverrides::default(), env(&[("AICM_API_KEY", "k")]))
                .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidSetting {
                name: "AICM_INI_PATH",
                ..
            }
        ));
    }
}
