//! Reading usage rows from JSON lines or CSV, with the line number of every row and a reason
//! for every row that cannot be read.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::SpeechUsage;

/// The file formats the job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`); blank lines are skipped.
    JsonLines,
    /// A header line, then one row per line (`.csv`); `features` is `;`-separated.
    Csv,
}

impl Format {
    /// The format a file name's extension implies.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// One readable row: the usage and the options it is tracked with.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The usage record.
    pub usage: SpeechUsage,
    /// Your customer the usage is for.
    pub customer: Option<String>,
    /// When the usage happened (a backfill keeps the original times).
    pub timestamp: Option<OffsetDateTime>,
}

/// Why a row was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// The row could not be read into a usage record.
    Parse,
    /// The record was read, but `track` refused it.
    Validation,
}

/// A skipped row, with its line number and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRow {
    /// 1-based line in the file.
    pub line: u64,
    /// Whether reading or validating failed.
    pub kind: InvalidKind,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for InvalidRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            InvalidKind::Parse => "cannot parse",
            InvalidKind::Validation => "invalid usage",
        };
        write!(f, "line {}: {kind}: {}", self.line, self.reason)
    }
}

/// One item of [`read_rows`]: a row, a row to skip, or (outer `Err`) a read error that ends
/// the file.
pub type RowItem = Result<Result<UsageRow, InvalidRow>, io::Error>;

/// The rows of `path`, lazily, so a file of any size is read in constant memory.
pub fn read_rows(path: &Path, format: Format) -> io::Result<Box<dyn Iterator<Item = RowItem>>> {
    let file = BufReader::new(File::open(path)?);
    Ok(match format {
        Format::JsonLines => Box::new(JsonLines {
            reader: file,
            line: 0,
            buf: Vec::new(),
            done: false,
        }),
        Format::Csv => Box::new(CsvRows::new(file)?),
    })
}

/// Rows in `path` (non-blank lines, less the CSV header): the length of the progress bar.
pub fn count_rows(path: &Path, format: Format) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    let mut rows = 0u64;
    while reader.read_until(b'\n', &mut buf)? > 0 {
        if !buf.trim_ascii().is_empty() {
            rows += 1;
        }
        buf.clear();
    }
    Ok(match format {
        Format::JsonLines => rows,
        Format::Csv => rows.saturating_sub(1),
    })
}

/// A row as written in a JSON line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    duration_seconds: f64,
    channels: u32,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    features: Vec<String>,
}

/// A row as written in CSV: empty cells are absent values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    duration_seconds: f64,
    channels: u32,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    features: Option<String>,
}

/// Parses one JSON line (exposed for tests and for callers with rows from elsewhere).
pub fn parse_json_row(line: u64, text: &[u8]) -> Result<UsageRow, InvalidRow> {
    let row: JsonRow =
        serde_json::from_slice(text).map_err(|e| parse_error(line, json_reason(&e)))?;
    usage_row(
        line,
        row.customer,
        row.timestamp,
        SpeechUsage {
            duration_seconds: row.duration_seconds,
            channels: row.channels,
            language: row.language,
            features: row.features,
        },
    )
}

fn csv_row(line: u64, row: CsvRow) -> Result<UsageRow, InvalidRow> {
    let features = row
        .features
        .map(|f| {
            f.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    usage_row(
        line,
        row.customer,
        row.timestamp,
        SpeechUsage {
            duration_seconds: row.duration_seconds,
            channels: row.channels,
            language: row.language,
            features,
        },
    )
}

fn usage_row(
    line: u64,
    customer: Option<String>,
    timestamp: Option<String>,
    usage: SpeechUsage,
) -> Result<UsageRow, InvalidRow> {
    let timestamp = timestamp
        .map(|t| {
            OffsetDateTime::parse(&t, &Rfc3339)
                .map_err(|e| parse_error(line, format!("timestamp `{t}` is not RFC 3339: {e}")))
        })
        .transpose()?;
    Ok(UsageRow {
        line,
        usage,
        customer,
        timestamp,
    })
}

/// serde_json's message with its `at line 1 column N` turned into `(column N)`: the file's
/// line is reported separately, and every JSON line is line 1 to serde_json.
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.column() > 0 => format!("{} (column {})", &text[..at], error.column()),
        _ => text,
    }
}

fn parse_error(line: u64, reason: impl fmt::Display) -> InvalidRow {
    InvalidRow {
        line,
        kind: InvalidKind::Parse,
        reason: reason.to_string(),
    }
}

struct JsonLines<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = RowItem;

    fn next(&mut self) -> Option<RowItem> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let text = self.buf.trim_ascii();
                    if !text.is_empty() {
                        return Some(Ok(parse_json_row(self.line, text)));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

struct CsvRows<R> {
    reader: csv::Reader<R>,
    headers: csv::StringRecord,
    record: csv::StringRecord,
}

impl<R: io::Read> CsvRows<R> {
    fn new(input: R) -> io::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = reader.headers()?.clone();
        Ok(CsvRows {
            reader,
            headers,
            record: csv::StringRecord::new(),
        })
    }
}

impl<R: io::Read> Iterator for CsvRows<R> {
    type Item = RowItem;

    fn next(&mut self) -> Option<RowItem> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                let row = self
                    .record
                    .deserialize::<CsvRow>(Some(&self.headers))
                    .map_err(|e| parse_error(line, csv_reason(&e, &self.headers)))
                    .and_then(|row| csv_row(line, row));
                Some(Ok(row))
            }
            Err(e) if e.is_io_error() => Some(Err(e.into())),
            Err(e) => {
                // A malformed record (wrong number of cells, bad UTF-8) is one bad row; the
                // reader carries on with the next.
                let line = e.position().map_or(0, csv::Position::line);
                Some(Ok(Err(parse_error(line, csv_reason(&e, &self.headers)))))
            }
        }
    }
}

/// The error without the position prefix (the line number is reported separately), naming
/// the column rather than its index.
fn csv_reason(error: &csv::Error, headers: &csv::StringRecord) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let column = err
                .field()
                .and_then(|i| headers.get(usize::try_from(i).ok()?));
            match column {
                Some(column) => format!("column `{column}`: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} cells, found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8: {err}"),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_items(text: &str) -> Vec<Result<UsageRow, InvalidRow>> {
        CsvRows::new(text.as_bytes())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn json_items(text: &str) -> Vec<Result<UsageRow, InvalidRow>> {
        JsonLines {
            reader: text.as_bytes(),
            line: 0,
            buf: Vec::new(),
            done: false,
        }
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn a_full_json_row_becomes_usage_and_options() {
        let row = parse_json_row(
            7,
            br#"{"customer": "acme", "timestamp": "2025-08-07T20:41:59Z",
                 "duration_seconds": 12.5, "channels": 2, "language": "en",
                 "features": ["punctuation", "diarize"]}"#,
        )
        .unwrap();
        assert_eq!(row.line, 7);
        assert_eq!(row.customer.as_deref(), Some("acme"));
        assert_eq!(
            row.timestamp.unwrap().unix_timestamp(),
            1_754_599_319,
            "2025-08-07T20:41:59Z"
        );
        assert_eq!(
            row.usage,
            SpeechUsage {
                duration_seconds: 12.5,
                channels: 2,
                language: Some("en".to_owned()),
                features: vec!["punctuation".to_owned(), "diarize".to_owned()],
            }
        );
    }

    #[test]
    fn optional_json_fields_may_be_left_out() {
        let row = parse_json_row(1, br#"{"duration_seconds": 3, "channels": 1}"#).unwrap();
        assert_eq!(row.customer, None);
        assert_eq!(row.timestamp, None);
        assert_eq!(row.usage.language, None);
        assert!(row.usage.features.is_empty());
    }

    #[test]
    fn unreadable_json_rows_name_the_line_and_the_problem() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"channels": 1}"#, "missing field `duration_seconds`"),
            (
                br#"{"duration_seconds": 1, "channels": "two"}"#,
                "invalid type: string \"two\", expected u32",
            ),
            (
                br#"{"duration_seconds": 1, "channels": 1, "colour": "red"}"#,
                "unknown field `colour`",
            ),
            (
                br#"{"duration_seconds": 1, "channels": 1"#,
                "EOF while parsing an object (column 37)",
            ),
            (
                br#"{"duration_seconds": 1, "channels": 1, "timestamp": "yesterday"}"#,
                "timestamp `yesterday` is not RFC 3339",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_json_row(9, text).unwrap_err();
            assert_eq!(err.line, 9);
            assert_eq!(err.kind, InvalidKind::Parse);
            assert!(
                err.reason.contains(expected),
                "{:?}: {}",
                String::from_utf8_lossy(text),
                err.reason
            );
        }
    }

    #[test]
    fn json_lines_count_blank_lines_and_carry_on_after_a_bad_row() {
        let items = json_items(
            "{\"duration_seconds\": 1, \"channels\": 1}\n\
             \n\
             not json\n\
             {\"duration_seconds\": 2, \"channels\": 1}\n",
        );
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().line, 1);
        assert_eq!(items[1].as_ref().unwrap_err().line, 3);
        assert_eq!(items[2].as_ref().unwrap().line, 4);
    }

    #[test]
    fn csv_rows_split_features_and_read_empty_cells_as_absent() {
        let items = csv_items(
            "customer,timestamp,duration_seconds,channels,language,features\n\
             acme,,12.5,2,en,punctuation; diarize\n\
             ,,3,1,,\n",
        );
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.line, 2);
        assert_eq!(first.customer.as_deref(), Some("acme"));
        assert_eq!(first.usage.features, ["punctuation", "diarize"]);
        let second = items[1].as_ref().unwrap();
        assert_eq!(second.line, 3);
        assert_eq!(second.customer, None);
        assert_eq!(second.usage.language, None);
        assert!(second.usage.features.is_empty());
    }

    #[test]
    fn bad_csv_rows_are_reported_with_their_line_and_the_rest_is_read() {
        let items = csv_items(
            "customer,duration_seconds,channels\n\
             acme,1,two\n\
             acme,1\n\
             acme,2,1\n",
        );
        assert_eq!(items.len(), 3);
        let bad_type = items[0].as_ref().unwrap_err();
        assert_eq!(bad_type.line, 2);
        assert_eq!(
            bad_type.reason,
            "column `channels`: invalid digit found in string"
        );
        let short = items[1].as_ref().unwrap_err();
        assert_eq!(short.line, 3);
        assert_eq!(short.reason, "expected 3 cells, found 2");
        assert_eq!(items[2].as_ref().unwrap().line, 4);
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/b.JSONL")),
            Some(Format::JsonLines)
        );
        assert_eq!(Format::from_path(Path::new("b.csv")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("b")), None);
    }

    #[test]
    fn count_rows_skips_blank_lines_and_the_csv_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, "a,b\n1,2\n\n3,4\n").unwrap();
        assert_eq!(count_rows(&path, Format::Csv).unwrap(), 2);
        assert_eq!(count_rows(&path, Format::JsonLines).unwrap(), 3);
    }
}
