//! Reading one response body (or one stream event) into a usage record.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::{LlmError, LlmRecord, Provider, clean_object};

/// The fields of a response body (or stream event) that a record is made of, for every
/// covered API at once; everything else (the generated text above all) is skipped unread.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Body<'a> {
    #[serde(borrow, default)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) usage: Option<Value>,
    #[serde(default)]
    pub(crate) error: Option<IgnoredAny>,
    #[serde(borrow, default, rename = "type")]
    pub(crate) kind: Option<Cow<'a, str>>,
    /// Gemini's usage.
    #[serde(default, rename = "usageMetadata")]
    pub(crate) usage_metadata: Option<Value>,
    /// Gemini's model.
    #[serde(borrow, default, rename = "modelVersion")]
    pub(crate) model_version: Option<Cow<'a, str>>,
    /// Gemini's answer (skipped unread; its presence says the body is Gemini's).
    #[serde(default)]
    pub(crate) candidates: Option<IgnoredAny>,
    /// Gemini's id.
    #[serde(borrow, default, rename = "responseId")]
    pub(crate) response_id: Option<Cow<'a, str>>,
    /// The Responses API's stream events carry the response here.
    #[serde(borrow, default)]
    pub(crate) response: Option<Box<Body<'a>>>,
    /// Anthropic's `message_start` carries the message here.
    #[serde(borrow, default)]
    pub(crate) message: Option<Box<Body<'a>>>,
}

impl Body<'_> {
    /// Whether anything of this provider's response shape is here at all.
    fn is_recognisable(&self, provider: &Provider) -> bool {
        match provider {
            Provider::Gemini => {
                self.usage_metadata.is_some()
                    || self.model_version.is_some()
                    || self.response_id.is_some()
                    || self.candidates.is_some()
                    || self.error.is_some()
            }
            _ => {
                self.id.is_some()
                    || self.model.is_some()
                    || self.usage.is_some()
                    || self.error.is_some()
                    || self.kind.is_some()
            }
        }
    }

    /// Model, id and usage as this provider places them.
    pub(crate) fn parts(
        &self,
        provider: &Provider,
    ) -> (Option<&str>, Option<&str>, Option<&Value>) {
        match provider {
            Provider::Gemini => (
                self.model_version.as_deref(),
                self.response_id.as_deref(),
                self.usage_metadata.as_ref(),
            ),
            _ => (
                self.model.as_deref(),
                self.id.as_deref(),
                self.usage.as_ref(),
            ),
        }
    }
}

/// Reads a response body of `provider` into a usage record.
///
/// `Ok(None)` when the answer carries no usage (an error answer, a body without `usage`);
/// an error when the body is not JSON or not the provider's shape (e.g. `usage` that is not
/// an object, or usage without a model). Gemini's `streamGenerateContent` without `alt=sse`
/// answers a JSON array of responses: its last usage is taken.
///
/// ```
/// use aicm::llm::{Provider, extract};
/// let error = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
/// assert_eq!(extract(&Provider::Anthropic, error)?, None);
/// assert!(extract(&Provider::Anthropic, b"<html>").is_err());
/// # Ok::<(), aicm::llm::LlmError>(())
/// ```
pub fn extract(provider: &Provider, body: &[u8]) -> Result<Option<LlmRecord>, LlmError> {
    let invalid = |source| LlmError::InvalidJson {
        provider: provider.api_name(),
        source,
    };
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'[') {
        let bodies: Vec<Body<'_>> = serde_json::from_slice(body).map_err(invalid)?;
        return from_bodies(provider, &bodies);
    }
    let parsed: Body<'_> = match first {
        Some(b'{') => serde_json::from_slice(body).map_err(invalid)?,
        _ => {
            // Not an object: let the parser say what it is, or name the shape.
            let value: Value = serde_json::from_slice(body).map_err(invalid)?;
            return Err(LlmError::shape(
                provider,
                format!(
                    "expected a JSON object, got {}",
                    crate::api::json_kind(&value)
                ),
            ));
        }
    };
    from_body(provider, &parsed)
}

/// [`extract`] on a body already parsed as JSON.
pub fn extract_value(provider: &Provider, body: &Value) -> Result<Option<LlmRecord>, LlmError> {
    match body {
        Value::Object(_) => from_body(provider, &parse_value(provider, body)?),
        Value::Array(items) => {
            let bodies = items
                .iter()
                .map(|item| parse_value(provider, item))
                .collect::<Result<Vec<_>, _>>()?;
            from_bodies(provider, &bodies)
        }
        other => Err(LlmError::shape(
            provider,
            format!(
                "expected a JSON object, got {}",
                crate::api::json_kind(other)
            ),
        )),
    }
}

fn parse_value<'a>(provider: &Provider, value: &'a Value) -> Result<Body<'a>, LlmError> {
    Body::deserialize(value).map_err(|e| LlmError::shape(provider, e.to_string()))
}

fn from_bodies(provider: &Provider, bodies: &[Body<'_>]) -> Result<Option<LlmRecord>, LlmError> {
    let mut model = None;
    let mut id = None;
    let mut usage = None;
    for body in bodies {
        let (m, i, u) = body.parts(provider);
        model = m.or(model);
        id = id.or(i);
        usage = u.or(usage);
    }
    match usage {
        Some(usage) => build(provider, model, id, usage, false),
        None => Ok(None),
    }
}

pub(crate) fn from_body(
    provider: &Provider,
    body: &Body<'_>,
) -> Result<Option<LlmRecord>, LlmError> {
    if !body.is_recognisable(provider) {
        let fields = match provider {
            Provider::Gemini => "`candidates`, `usageMetadata`, `modelVersion` or `error`",
            _ => "`id`, `model`, `usage` or `error`",
        };
        return Err(LlmError::shape(
            provider,
            format!("none of {fields}: not this API's response"),
        ));
    }
    let (model, id, usage) = body.parts(provider);
    match usage {
        Some(usage) => build(provider, model, id, usage, false),
        None => Ok(None),
    }
}

/// A record from the parts; `Ok(None)` when the usage is empty once nulls are gone.
pub(crate) fn build(
    provider: &Provider,
    model: Option<&str>,
    id: Option<&str>,
    usage: &Value,
    incomplete: bool,
) -> Result<Option<LlmRecord>, LlmError> {
    let Value::Object(usage) = usage else {
        return Err(LlmError::shape(
            provider,
            format!(
                "`{}` is {}, not an object",
                usage_field(provider),
                crate::api::json_kind(usage)
            ),
        ));
    };
    let mut payload: Map<String, Value> = usage.clone();
    clean_object(&mut payload);
    build_owned(provider, model, id, payload, incomplete)
}

pub(crate) fn build_owned(
    provider: &Provider,
    model: Option<&str>,
    id: Option<&str>,
    payload: Map<String, Value>,
    incomplete: bool,
) -> Result<Option<LlmRecord>, LlmError> {
    if payload.is_empty() {
        return Ok(None);
    }
    let model = match model.map(str::trim) {
        Some(model) if !model.is_empty() => model,
        _ => {
            return Err(LlmError::shape(
                provider,
                format!("usage without `{}`", model_field(provider)),
            ));
        }
    };
    let vendor = provider.vendor();
    let mut service_key = String::with_capacity(vendor.len() + 2 + model.len());
    service_key.push_str(vendor);
    service_key.push_str("::");
    service_key.push_str(model);
    Ok(Some(LlmRecord {
        service_key,
        response_id: id.filter(|id| !id.is_empty()).map(str::to_owned),
        payload,
        incomplete,
    }))
}

pub(crate) fn usage_field(provider: &Provider) -> &'static str {
    match provider {
        Provider::Gemini => "usageMetadata",
        _ => "usage",
    }
}

fn model_field(provider: &Provider) -> &'static str {
    match provider {
        Provider::Gemini => "modelVersion",
        _ => "model",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_shapes_are_errors_that_say_why() {
        let p = Provider::OpenAiChat;
        let err = extract(&p, br#"{"model": "m", "usage": 3}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OpenAI Chat Completions response has an unexpected shape: `usage` is a number, not an object"
        );
        let err = extract(&p, br#"{"usage": {"prompt_tokens": 1}}"#).unwrap_err();
        assert!(err.to_string().ends_with("usage without `model`"), "{err}");
        let err = extract(&p, br#"{"hello": 1}"#).unwrap_err();
        assert!(err.to_string().contains("not this API's response"), "{err}");
        let err = extract(&p, b"42").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("expected a JSON object, got a number"),
            "{err}"
        );
        assert!(matches!(
            extract(&p, b"{"),
            Err(LlmError::InvalidJson { .. })
        ));
        assert!(matches!(
            extract(&p, b""),
            Err(LlmError::InvalidJson { .. })
        ));
        let err = extract(
            &Provider::Gemini,
            br#"{"modelVersion": "g", "usageMetadata": []}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`usageMetadata` is an array"),
            "{err}"
        );
    }

    #[test]
    fn no_usage_is_no_record() {
        let p = Provider::OpenAiChat;
        assert_eq!(
            extract(&p, br#"{"id": "x", "model": "m", "usage": null}"#).unwrap(),
            None
        );
        assert_eq!(
            extract(&p, br#"{"error": {"message": "bad"}}"#).unwrap(),
            None
        );
        assert_eq!(
            extract(&p, br#"{"model": "m", "usage": {"a": null}}"#).unwrap(),
            None
        );
    }

    #[test]
    fn value_and_bytes_agree() {
        let body = json!([{"modelVersion": "gemini-2.5-flash", "responseId": "r1"},
                          {"usageMetadata": {"promptTokenCount": 3}},
                          {"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 9}}]);
        let from_bytes = extract(&Provider::Gemini, body.to_string().as_bytes()).unwrap();
        let from_value = extract_value(&Provider::Gemini, &body).unwrap();
        assert_eq!(from_bytes, from_value);
        let record = from_bytes.unwrap();
        assert_eq!(record.service_key, "google::gemini-2.5-flash");
        assert_eq!(
            Value::Object(record.payload),
            json!({"promptTokenCount": 3, "totalTokenCount": 9})
        );
    }
}
