//! `AICM.INI` in the format of Python's `configparser`, edited in place.
//!
//! The file is shared with the Python SDK and may hold sections and keys we do not own, so we
//! never rebuild it from a model: the document keeps every line as it was and our edits touch
//! only the lines of the keys we set. What configparser does and we follow:
//! - `[section]` headers; `key = value` or `key: value`, split at the first delimiter; keys are
//!   case-insensitive and written lower-case; values are trimmed.
//! - An indented line after a key continues its value (joined with `\n`).
//! - Full-line comments start with `#` or `;`.
//! - Values go through `BasicInterpolation` when Python reads them: `%%` stands for `%`. The
//!   Python SDK's `cp[s][k] = json` raises on a lone `%`, so we write `%` as `%%` and read `%%`
//!   as `%`, which is what Python reads and writes.
//! - With duplicate sections (the SDK reads with `strict=False`) later values win.

use std::fmt::Write as _;

/// A parsed INI file that writes back every line it did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IniDocument {
    /// Lines before the first section header.
    preamble: Vec<String>,
    sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// The header line as written.
    header: String,
    name: String,
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A key with its first line and continuation lines, as written.
    Entry { key: String, lines: Vec<String> },
    /// A blank line, comment, or line we do not understand: kept verbatim.
    Other(String),
}

impl IniDocument {
    /// Parses text leniently: nothing is an error, lines that are not INI are kept as they are.
    pub(crate) fn parse(text: &str) -> IniDocument {
        let mut doc = IniDocument::default();
        for line in text.lines() {
            let trimmed = line.trim();
            let indented = line.starts_with([' ', '\t']);

            if indented && !trimmed.is_empty() && doc.continue_entry(line) {
                continue;
            }
            if !indented && trimmed.starts_with('[') && trimmed.ends_with(']') && trimmed.len() > 2
            {
                doc.sections.push(Section {
                    header: line.to_owned(),
                    name: trimmed[1..trimmed.len() - 1].to_owned(),
                    items: Vec::new(),
                });
                continue;
            }
            let item = if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
                Item::Other(line.to_owned())
            } else {
                match split_key(line) {
                    Some(key) => Item::Entry {
                        key,
                        lines: vec![line.to_owned()],
                    },
                    None => Item::Other(line.to_owned()),
                }
            };
            match doc.sections.last_mut() {
                Some(section) => section.items.push(item),
                None => doc.preamble.push(line.to_owned()),
            }
        }
        doc
    }

    /// Appends an indented line to the last entry of the current section, taking any blank
    /// lines in between with it (configparser allows empty lines inside values).
    fn continue_entry(&mut self, line: &str) -> bool {
        let Some(section) = self.sections.last_mut() else {
            return false;
        };
        let blanks = section
            .items
            .iter()
            .rev()
            .take_while(|i| matches!(i, Item::Other(l) if l.trim().is_empty()))
            .count();
        let entry_at = section.items.len().saturating_sub(blanks + 1);
        if section.items.len() <= blanks {
            return false;
        }
        let moved: Vec<String> = section
            .items
            .drain(entry_at + 1..)
            .filter_map(|i| match i {
                Item::Other(l) => Some(l),
                Item::Entry { .. } => None,
            })
            .collect();
        match section.items.get_mut(entry_at) {
            Some(Item::Entry { lines, .. }) => {
                lines.extend(moved);
                lines.push(line.to_owned());
                true
            }
            _ => {
                section.items.extend(moved.into_iter().map(Item::Other));
                false
            }
        }
    }

    /// The text to write: every untouched line exactly as read, `\n` line ends.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.preamble {
            let _ = writeln!(out, "{line}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "{}", section.header);
            for item in &section.items {
                match item {
                    Item::Entry { lines, .. } => {
                        for line in lines {
                            let _ = writeln!(out, "{line}");
                        }
                    }
                    Item::Other(line) => {
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
        }
        out
    }

    /// The value Python would read for `section.key` (interpolation of `%%` applied), the
    /// last occurrence winning.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<String> {
        let key = key.to_lowercase();
        self.sections
            .iter()
            .filter(|s| s.name == section)
            .flat_map(|s| s.items.iter())
            .filter_map(|item| match item {
                Item::Entry { key: k, lines } if *k == key => Some(lines),
                _ => None,
            })
            .next_back()
            .map(|lines| unescape(&raw_value(lines)))
    }

    /// Sets `section.key = value`, creating the section at the end if needed. The key keeps
    /// its place in the last section of that name; copies elsewhere are removed so no
    /// reader can see an old value.
    pub(crate) fn set(&mut self, section: &str, key: &str, value: &str) {
        let key = key.to_lowercase();
        let lines = entry_lines(&key, value);

        let Some(target) = self.sections.iter().rposition(|s| s.name == section) else {
            self.append_section(section, Item::Entry { key, lines });
            return;
        };
        for (index, s) in self.sections.iter_mut().enumerate() {
            if s.name != section || index == target {
                continue;
            }
            s.items
                .retain(|i| !matches!(i, Item::Entry { key: k, .. } if *k == key));
        }
        let items = &mut self.sections[target].items;
        let mut existing = items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, Item::Entry { key: k, .. } if *k == key))
            .map(|(n, _)| n)
            .collect::<Vec<_>>();
        if let Some(first) = existing.first().copied() {
            items[first] = Item::Entry { key, lines };
            // Drop later duplicates, back to front so indices stay valid.
            existing.remove(0);
            for n in existing.into_iter().rev() {
                items.remove(n);
            }
        } else {
            // After the section's last entry, before trailing blanks and comments.
            let at = items
                .iter()
                .rposition(|i| matches!(i, Item::Entry { .. }))
                .map_or(0, |n| n + 1);
            items.insert(at, Item::Entry { key, lines });
        }
    }

    fn append_section(&mut self, name: &str, item: Item) {
        // A blank line between sections, as configparser writes them.
        let last_line = match self.sections.last() {
            Some(s) => match s.items.last() {
                Some(Item::Other(l)) => Some(l.as_str()),
                Some(Item::Entry { lines, .. }) => lines.last().map(String::as_str),
                None => Some(s.header.as_str()),
            },
            None => self.preamble.last().map(String::as_str),
        };
        if last_line.is_some_and(|l| !l.trim().is_empty()) {
            match self.sections.last_mut() {
                Some(s) => s.items.push(Item::Other(String::new())),
                None => self.preamble.push(String::new()),
            }
        }
        self.sections.push(Section {
            header: format!("[{name}]"),
            name: name.to_owned(),
            items: vec![item, Item::Other(String::new())],
        });
    }
}

/// `key` if the line is `key = value` or `key: value` (configparser's first delimiter wins).
fn split_key(line: &str) -> Option<String> {
    let at = line.find(['=', ':'])?;
    let key = line[..at].trim();
    (!key.is_empty()).then(|| key.to_lowercase())
}

/// The raw value of an entry as configparser assembles it, before interpolation.
fn raw_value(lines: &[String]) -> String {
    let first = lines.first().map(String::as_str).unwrap_or_default();
    let mut value = match first.find(['=', ':']) {
        Some(at) => first[at + 1..].trim().to_owned(),
        None => String::new(),
    };
    for line in &lines[1.min(lines.len())..] {
        value.push('\n');
        value.push_str(line.trim());
    }
    value.trim_end().to_owned()
}

/// The lines configparser would write for `key = value` (continuations indented by a tab).
fn entry_lines(key: &str, value: &str) -> Vec<String> {
    let escaped = value.replace('%', "%%");
    let mut parts = escaped.split('\n');
    let first = parts.next().unwrap_or_default();
    let mut lines = vec![if first.is_empty() {
        format!("{key} = ")
    } else {
        format!("{key} = {first}")
    }];
    lines.extend(parts.map(|p| format!("\t{p}")));
    lines
}

/// `%%` → `%`. Any other `%` is left alone (Python would reject or interpolate it; for our JSON
/// values it never occurs).
fn unescape(raw: &str) -> String {
    raw.replace("%%", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_FILE: &str = "[delivery]\ntimeout = 0.05\n\n[configs]\npayload = [{\"a\": \"100%% sure\"}]\netag = \"abc\"\n\n[custom]\nKey = Value\nmulti = first\n\tsecond\n\n\tthird\n# a comment\n; another\n";

    #[test]
    fn reads_python_configparser_output() {
        let doc = IniDocument::parse(PYTHON_FILE);
        assert_eq!(doc.get("delivery", "timeout").as_deref(), Some("0.05"));
        assert_eq!(
            doc.get("configs", "payload").as_deref(),
            Some("[{\"a\": \"100% sure\"}]")
        );
        assert_eq!(doc.get("configs", "etag").as_deref(), Some("\"abc\""));
        assert_eq!(doc.get("custom", "key").as_deref(), Some("Value"));
        assert_eq!(
            doc.get("custom", "multi").as_deref(),
            Some("first\nsecond\n\nthird")
        );
        assert_eq!(doc.get("configs", "missing"), None);
        assert_eq!(doc.get("nope", "payload"), None);
    }

    #[test]
    fn untouched_document_round_trips_exactly() {
        let doc = IniDocument::parse(PYTHON_FILE);
        assert_eq!(doc.to_text(), PYTHON_FILE);
        let odd = "stray line before any section\n[s]\n  indented = weird\nno delimiter\n";
        assert_eq!(IniDocument::parse(odd).to_text(), odd);
    }

    #[test]
    fn set_replaces_in_place_and_keeps_everything_else() {
        let mut doc = IniDocument::parse(PYTHON_FILE);
        doc.set("configs", "etag", "\"new\"");
        doc.set("configs", "payload", "[{\"p\": \"50%\"}]");
        let text = doc.to_text();
        assert_eq!(
            text,
            PYTHON_FILE
                .replace("etag = \"abc\"", "etag = \"new\"")
                .replace("[{\"a\": \"100%% sure\"}]", "[{\"p\": \"50%%\"}]")
        );
        let again = IniDocument::parse(&text);
        assert_eq!(
            again.get("configs", "payload").as_deref(),
            Some("[{\"p\": \"50%\"}]")
        );
        assert_eq!(
            again.get("custom", "multi").as_deref(),
            Some("first\nsecond\n\nthird")
        );
    }

    #[test]
    fn set_adds_sections_and_keys_python_style() {
        let mut doc = IniDocument::parse("[other]\nx = 1\n");
        doc.set("triggered_limits", "payload", "{}");
        doc.set("configs", "payload", "[]");
        doc.set("configs", "etag", "");
        doc.set("other", "y", "2");
        assert_eq!(
            doc.to_text(),
            "[other]\nx = 1\ny = 2\n\n[triggered_limits]\npayload = {}\n\n[configs]\npayload = []\netag = \n\n"
        );
        assert_eq!(doc.get("configs", "etag").as_deref(), Some(""));
        let empty = {
            let mut d = IniDocument::parse("");
            d.set("configs", "etag", "e");
            d.to_text()
        };
        assert_eq!(empty, "[configs]\netag = e\n\n");
    }

    #[test]
    fn keys_are_case_insensitive_and_duplicates_resolve_to_one() {
        let mut doc = IniDocument::parse("[configs]\nETAG = a\n[configs]\netag = b\nEtag = c\n");
        assert_eq!(doc.get("configs", "etag").as_deref(), Some("c"));
        doc.set("configs", "etag", "d");
        assert_eq!(doc.to_text(), "[configs]\n[configs]\netag = d\n");
    }

    #[test]
    fn multi_line_values_are_written_as_continuations() {
        let mut doc = IniDocument::default();
        doc.set("s", "k", "a\nb");
        assert_eq!(doc.to_text(), "[s]\nk = a\n\tb\n\n");
        assert_eq!(doc.get("s", "k").as_deref(), Some("a\nb"));
    }

    #[test]
    fn colon_delimiter_and_garbage_do_not_panic() {
        let doc = IniDocument::parse("[s]\nk: v = w\n\u{0}\u{1}garbage\n[]\n[");
        assert_eq!(doc.get("s", "k").as_deref(), Some("v = w"));
    }
}
