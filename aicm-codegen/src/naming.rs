//! Rust names for schema keys and config ids: snake_case fields, PascalCase types, keywords
//! made raw or renamed, and nothing that would not compile.

use proc_macro2::{Ident, Span};

/// Keywords (strict and reserved, edition 2024) that may stand as raw identifiers (`r#type`).
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers, so a field named after one gets a trailing `_`.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// A struct field's Rust name for one schema key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldName {
    /// The identifier, raw (`r#type`) for keywords that allow it.
    pub(crate) ident: Ident,
    /// Whether serde needs `#[serde(rename = "<key>")]` to write the key.
    pub(crate) needs_rename: bool,
}

impl FieldName {
    /// The identifier as written in source, `r#` included.
    pub(crate) fn text(&self) -> String {
        self.ident.to_string()
    }
}

/// The field name for `key`, the schema key at `index`.
///
/// A key that already is a snake_case identifier is kept; a keyword becomes raw (`r#type`) or,
/// where Rust forbids that (`self`, `crate`, ...), gets a trailing underscore; anything else is
/// converted to snake_case (`cost-center` → `cost_center`, `inputTokens` → `input_tokens`,
/// `2fa` → `_2fa`), and a key with nothing usable in it becomes `field_<index>`.
pub(crate) fn field_name(key: &str, index: usize) -> FieldName {
    let base = if is_snake_ident(key) {
        key.to_owned()
    } else {
        snake_case(key)
    };
    let ident = if base.is_empty() {
        Ident::new(&format!("field_{index}"), Span::call_site())
    } else if NOT_RAW.contains(&base.as_str()) {
        Ident::new(&format!("{base}_"), Span::call_site())
    } else if RAW_KEYWORDS.contains(&base.as_str()) {
        Ident::new_raw(&base, Span::call_site())
    } else {
        let base = if base.starts_with(|c: char| c.is_numeric()) {
            format!("_{base}")
        } else {
            base
        };
        parse_ident(&base)
            .unwrap_or_else(|| Ident::new(&format!("field_{index}"), Span::call_site()))
    };
    let unraw = ident.to_string();
    let unraw = unraw.strip_prefix("r#").unwrap_or(&unraw);
    FieldName {
        needs_rename: unraw != key,
        ident,
    }
}

/// `chat-completions` → `ChatCompletions`; a leading digit gets a `Config` prefix, and an id
/// with nothing usable becomes `Config`.
pub(crate) fn pascal_case(text: &str) -> String {
    let mut out: String = words(text).iter().map(|w| capitalize(w)).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_numeric()) {
        out.insert_str(0, "Config");
    }
    out
}

/// `cost_center` → `CostCenter`, for names built from a field (no prefix for digits, since
/// the result is appended to a type name).
pub(crate) fn pascal_case_word(text: &str) -> String {
    words(text).iter().map(|w| capitalize(w)).collect()
}

/// Whether `name` can name a struct or enum in generated code.
pub(crate) fn type_name_problem(name: &str) -> Option<String> {
    if name.starts_with("r#") {
        return Some("a type name cannot be a raw identifier".to_owned());
    }
    if parse_ident(name).is_none() {
        return Some("not a Rust identifier (or a keyword)".to_owned());
    }
    None
}

/// `name` parsed as a plain, non-keyword identifier.
pub(crate) fn parse_ident(name: &str) -> Option<Ident> {
    syn::parse_str::<Ident>(name)
        .ok()
        .filter(|ident| !ident.to_string().starts_with("r#"))
}

/// Already a snake_case identifier (lowercase letters, digits, underscores; not a keyword
/// check, that comes later), so kept verbatim without a rename.
fn is_snake_ident(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c == '_' || (c.is_alphabetic() && !c.is_uppercase()));
    first_ok
        && key
            .chars()
            .all(|c| c == '_' || c.is_numeric() || (c.is_alphabetic() && !c.is_uppercase()))
        && key != "_"
        && (RAW_KEYWORDS.contains(&key) || NOT_RAW.contains(&key) || parse_ident(key).is_some())
}

fn snake_case(text: &str) -> String {
    words(text)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// Splits on anything that is not a letter or digit, and at case changes: `inputTokens`,
/// `HTTPServer` and `input tokens` give two words each; `gpt4o` stays one.
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_is_lower) {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str) -> (String, bool) {
        let f = field_name(key, 7);
        (f.text(), f.needs_rename)
    }

    #[test]
    fn snake_case_keys_are_kept_verbatim() {
        assert_eq!(field("input_tokens"), ("input_tokens".into(), false));
        assert_eq!(field("_private"), ("_private".into(), false));
        assert_eq!(field("größe"), ("größe".into(), false));
    }

    #[test]
    fn other_keys_are_converted_and_renamed() {
        assert_eq!(field("cost-center"), ("cost_center".into(), true));
        assert_eq!(field("inputTokens"), ("input_tokens".into(), true));
        assert_eq!(field("HTTPServer"), ("http_server".into(), true));
        assert_eq!(field("input tokens"), ("input_tokens".into(), true));
        assert_eq!(field("2fa"), ("_2fa".into(), true));
        assert_eq!(field("9 lives"), ("_9_lives".into(), true));
        assert_eq!(field("Größe"), ("größe".into(), true));
        assert_eq!(field("🚀"), ("field_7".into(), true));
        assert_eq!(field(""), ("field_7".into(), true));
        assert_eq!(field("gpt4o"), ("gpt4o".into(), false));
    }

    #[test]
    fn keywords_become_raw_or_get_an_underscore() {
        assert_eq!(field("type"), ("r#type".into(), false));
        assert_eq!(field("fn"), ("r#fn".into(), false));
        assert_eq!(field("gen"), ("r#gen".into(), false));
        assert_eq!(field("self"), ("self_".into(), true));
        assert_eq!(field("Self"), ("self_".into(), true));
        assert_eq!(field("crate"), ("crate_".into(), true));
        assert_eq!(field("super"), ("super_".into(), true));
        assert_eq!(field("_"), ("field_7".into(), true));
        assert_eq!(field("Type"), ("r#type".into(), true));
    }

    #[test]
    fn config_ids_become_pascal_case() {
        assert_eq!(pascal_case("chat-completions"), "ChatCompletions");
        assert_eq!(pascal_case("speech_to_text"), "SpeechToText");
        assert_eq!(pascal_case("agentRun"), "AgentRun");
        assert_eq!(pascal_case("2fa-check"), "Config2faCheck");
        assert_eq!(pascal_case("--"), "Config");
    }

    #[test]
    fn type_names_are_checked() {
        assert!(type_name_problem("ChatUsage").is_none());
        assert!(type_name_problem("fn").is_some());
        assert!(type_name_problem("r#Foo").is_some());
        assert!(type_name_problem("a-b").is_some());
        assert!(type_name_problem("").is_some());
    }
}
