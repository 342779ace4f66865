//! Writing a large sample file (`batch_job --generate N`), deterministically, so a generated file
//! and its re-runs are reproducible.

use std::io::{self, Write};

use super::rows::Format;

const CUSTOMERS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const LANGUAGES: [Option<&str>; 4] = [Some("en"), Some("de"), Some("fr"), None];
const FEATURES: [&str; 3] = ["punctuation", "diarize", "smart_format"];
/// 2025-01-01T00:00:00Z: rows are one second apart from here.
const START: i64 = 1_735_689_600;

/// Writes `rows` valid usage rows in `format` to `out`.
pub fn generate(out: &mut impl Write, rows: u64, format: Format, seed: u64) -> io::Result<()> {
    let mut rng = XorShift(seed | 1);
    if format == Format::Csv {
        writeln!(
            out,
            "customer,timestamp,duration_seconds,channels,language,features"
        )?;
    }
    for i in 0..rows {
        let customer = CUSTOMERS[rng.below(CUSTOMERS.len())];
        let timestamp = timestamp(START.saturating_add_unsigned(i));
        let duration = rng.below(36_000) as f64 / 10.0 + 0.5;
        let channels = 1 + rng.below(2);
        let language = LANGUAGES[rng.below(LANGUAGES.len())];
        let features: Vec<&str> = FEATURES
            .iter()
            .copied()
            .filter(|_| rng.below(2) == 1)
            .collect();
        match format {
            Format::JsonLines => {
                let row = serde_json::json!({
                    "customer": customer,
                    "timestamp": timestamp,
                    "duration_seconds": duration,
                    "channels": channels,
                    "language": language,
                    "features": features,
                });
                serde_json::to_writer(&mut *out, &row)?;
                writeln!(out)?;
            }
            Format::Csv => writeln!(
                out,
                "{customer},{timestamp},{duration},{channels},{},{}",
                language.unwrap_or(""),
                features.join(";")
            )?,
        }
    }
    out.flush()
}

/// RFC 3339 UTC for a unix time (the range written here always formats).
fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// xorshift64: enough variety for sample data, no dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::rows::read_rows;

    #[test]
    fn generated_rows_read_back_valid_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for (name, format) in [("g.jsonl", Format::JsonLines), ("g.csv", Format::Csv)] {
            let path = dir.path().join(name);
            let mut file = std::fs::File::create(&path).unwrap();
            generate(&mut file, 250, format, 7).unwrap();
            let rows: Vec<_> = read_rows(&path, format)
                .unwrap()
                .map(|item| item.unwrap().unwrap())
                .collect();
            assert_eq!(rows.len(), 250, "{name}");
            assert!(
                rows.iter()
                    .all(|r| r.customer.is_some() && r.timestamp.is_some())
            );
            assert!(rows.iter().all(|r| r.usage.duration_seconds > 0.0));
        }
    }

    #[test]
    fn the_same_seed_writes_the_same_file() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        generate(&mut a, 50, Format::JsonLines, 3).unwrap();
        generate(&mut b, 50, Format::JsonLines, 3).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        generate(&mut c, 50, Format::JsonLines, 4).unwrap();
        assert_ne!(a, c);
    }
}
