//! Which provider API a response comes from, and recognising it from the request URL.

use std::borrow::Cow;
use std::fmt;

/// The API a response body or event stream belongs to: it decides where usage, model and id
/// are read from and which vendor the service key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), vendor `openai`.
    OpenAiChat,
    /// OpenAI Responses (`POST /v1/responses`), vendor `openai`.
    OpenAiResponses,
    /// Anthropic Messages (`POST /v1/messages`), vendor `anthropic`.
    Anthropic,
    /// Google Gemini `generateContent` / `streamGenerateContent`, vendor `google`.
    Gemini,
    /// A provider speaking OpenAI's Chat Completions shape under its own name (Groq,
    /// Together, DeepSeek, Mistral, OpenRouter, a local server, …).
    OpenAiCompatible {
        /// The vendor part of the service key (`groq` in `groq::llama-3.3-70b-versatile`).
        vendor: Cow<'static, str>,
    },
}

impl Provider {
    /// An OpenAI-compatible provider named `vendor` (the vendor part of its service keys).
    ///
    /// ```
    /// let groq = aicm::llm::Provider::openai_compatible("groq");
    /// assert_eq!(groq.vendor(), "groq");
    /// ```
    pub fn openai_compatible(vendor: impl Into<Cow<'static, str>>) -> Self {
        Provider::OpenAiCompatible {
            vendor: vendor.into(),
        }
    }

    /// The vendor part of the service keys of this provider's records.
    pub fn vendor(&self) -> &str {
        match self {
            Provider::OpenAiChat | Provider::OpenAiResponses => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "google",
            Provider::OpenAiCompatible { vendor } => vendor,
        }
    }

    /// The API's name, for errors and logs.
    pub(crate) fn api_name(&self) -> &'static str {
        match self {
            Provider::OpenAiChat => "OpenAI Chat Completions",
            Provider::OpenAiResponses => "OpenAI Responses",
            Provider::Anthropic => "Anthropic Messages",
            Provider::Gemini => "Gemini generateContent",
            Provider::OpenAiCompatible { .. } => "OpenAI-compatible Chat Completions",
        }
    }

    /// The same API under another vendor name: a Chat Completions provider becomes
    /// [`Provider::OpenAiCompatible`] named `vendor` (or [`Provider::OpenAiChat`] for
    /// `openai`); other APIs keep their own vendor.
    pub fn with_vendor(self, vendor: impl Into<Cow<'static, str>>) -> Self {
        match self {
            Provider::OpenAiChat | Provider::OpenAiCompatible { .. } => {
                let vendor = vendor.into();
                if vendor == "openai" {
                    Provider::OpenAiChat
                } else {
                    Provider::OpenAiCompatible { vendor }
                }
            }
            other => other,
        }
    }

    /// Recognises the API from a request's host and path; `None` for anything else (which is
    /// then passed through untracked).
    ///
    /// The vendor of an OpenAI-compatible host is its name without `api.`, `www.` and the
    /// top-level domain (`api.groq.com` → `groq`, `openrouter.ai` → `openrouter`,
    /// `api.together.xyz` → `together`); `localhost` and IP addresses give `local`. Name it
    /// yourself with [`Provider::with_vendor`] when that guess is not the service key's vendor.
    ///
    /// ```
    /// use aicm::llm::Provider;
    /// assert_eq!(Provider::detect("api.openai.com", "/v1/chat/completions"), Some(Provider::OpenAiChat));
    /// assert_eq!(Provider::detect("api.openai.com", "/v1/responses"), Some(Provider::OpenAiResponses));
    /// assert_eq!(Provider::detect("api.anthropic.com", "/v1/messages"), Some(Provider::Anthropic));
    /// assert_eq!(
    ///     Provider::detect("generativelanguage.googleapis.com",
    ///                      "/v1beta/models/gemini-2.5-flash:generateContent"),
    ///     Some(Provider::Gemini)
    /// );
    /// assert_eq!(
    ///     Provider::detect("api.groq.com", "/openai/v1/chat/completions"),
    ///     Some(Provider::openai_compatible("groq"))
    /// );
    /// assert_eq!(Provider::detect("api.openai.com", "/v1/embeddings"), None);
    /// ```
    pub fn detect(host: &str, path: &str) -> Option<Provider> {
        let path = path.trim_end_matches('/');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent") {
            return Some(Provider::Gemini);
        }
        if path.ends_with("/v1/messages") {
            return Some(Provider::Anthropic);
        }
        if path.ends_with("/responses") {
            return Some(Provider::OpenAiResponses);
        }
        if path.ends_with("/chat/completions") {
            return Some(match vendor_of_host(&host) {
                vendor if vendor == "openai" => Provider::OpenAiChat,
                vendor => Provider::OpenAiCompatible { vendor },
            });
        }
        None
    }

    /// [`Provider::detect`] on a full URL (`https://api.openai.com/v1/chat/completions?x=1`).
    pub fn detect_url(url: &str) -> Option<Provider> {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let host = authority.rsplit('@').next().unwrap_or(authority);
        Provider::detect(strip_port(host), path)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::OpenAiCompatible { vendor } => write!(f, "{} ({vendor})", self.api_name()),
            _ => f.write_str(self.api_name()),
        }
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn vendor_of_host(host: &str) -> Cow<'static, str> {
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
    let host = if is_ip(host) { host } else { strip_port(host) };
    if host == "localhost" || is_ip(host) {
        return Cow::Borrowed("local");
    }
    if host == "openai.com" || host.ends_with(".openai.com") {
        return Cow::Borrowed("openai");
    }
    let labels: Vec<&str> = host
        .split('.')
        .filter(|l| !matches!(*l, "api" | "www" | "openai"))
        .collect();
    let name = match labels.len() {
        0 => host,
        1 => labels[0],
        n => labels[n - 2],
    };
    Cow::Owned(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_of_compatible_hosts() {
        for (url, vendor) in [
            ("https://api.groq.com/openai/v1/chat/completions", "groq"),
            ("https://api.together.xyz/v1/chat/completions", "together"),
            (
                "https://openrouter.ai/api/v1/chat/completions",
                "openrouter",
            ),
            ("https://api.deepseek.com/chat/completions", "deepseek"),
            (
                "https://api.fireworks.ai/inference/v1/chat/completions",
                "fireworks",
            ),
            ("http://127.0.0.1:8080/v1/chat/completions", "local"),
            ("http://localhost:11434/v1/chat/completions", "local"),
            ("http://[::1]:8080/v1/chat/completions?x=1", "local"),
        ] {
            assert_eq!(
                Provider::detect_url(url),
                Some(Provider::openai_compatible(vendor)),
                "{url}"
            );
        }
        assert_eq!(
            Provider::detect_url("https://api.openai.com/v1/chat/completions"),
            Some(Provider::OpenAiChat)
        );
        assert_eq!(
            Provider::detect_url("https://api.openai.com/v1/models"),
            None
        );
        assert_eq!(Provider::detect_url(""), None);
    }

    #[test]
    fn with_vendor_renames_only_chat_completions() {
        assert_eq!(
            Provider::OpenAiChat.with_vendor("groq"),
            Provider::openai_compatible("groq")
        );
        assert_eq!(
            Provider::openai_compatible("local").with_vendor("openai"),
            Provider::OpenAiChat
        );
        assert_eq!(Provider::Anthropic.with_vendor("x"), Provider::Anthropic);
    }
}
