//! An incremental reader of server-sent events: bytes in, events out, chunk boundaries
//! anywhere (inside a line, inside a UTF-8 sequence, between `\r` and `\n`).

/// One server-sent event, borrowed from the reader's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field; empty when the event had none (the default type, `message`).
    pub event: &'a str,
    /// The `data:` lines joined by `\n`.
    pub data: &'a str,
}

/// Reads a `text/event-stream` incrementally, as the WHATWG spec frames it: `\n`, `\r\n` or
/// `\r` end a line, a blank line ends an event, `:` starts a comment, one space after the
/// colon is dropped. Fields other than `event` and `data` are ignored.
///
/// ```
/// use aicm::llm::SseParser;
/// let mut parser = SseParser::new();
/// let mut seen = Vec::new();
/// for chunk in [&b"event: message_st"[..], b"art\r\ndata: {\"a\"", b":1}\r\n\r\n: ping\n\n"] {
///     parser.feed(chunk, |event| seen.push((event.event.to_owned(), event.data.to_owned())));
/// }
/// assert_eq!(seen, [("message_start".to_owned(), "{\"a\":1}".to_owned())]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct SseParser {
    /// The bytes of a line not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    /// Whether any `data:` line was seen in the current event.
    has_data: bool,
}

impl SseParser {
    /// A reader at the start of a stream.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Reads `chunk`, calling `on_event` for every event it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_event: impl FnMut(SseEvent<'_>)) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, rest) = chunk.split_at(end);
            let crlf = rest.starts_with(b"\r\n");
            if rest.len() == 1 && rest[0] == b'\r' {
                self.after_cr = true;
            }
            chunk = &rest[if crlf { 2 } else { 1 }..];
            if self.line.is_empty() {
                self.line_done(line, &mut on_event);
            } else {
                self.line.extend_from_slice(line);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, &mut on_event);
                self.line = line;
                self.line.clear();
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// The stream ended: a last event not followed by a blank line is given too (servers
    /// that close right after their last `data:` line are common).
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent<'_>)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
        self.after_cr = false;
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return,
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                push_utf8(&mut self.data, value);
            }
            b"event" => {
                self.event.clear();
                push_utf8(&mut self.event, value);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent<'_>)) {
        if self.has_data {
            on_event(SseEvent {
                event: &self.event,
                data: &self.data,
            });
        }
        self.has_data = false;
        self.data.clear();
        self.event.clear();
    }
}

fn push_utf8(into: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => into.push_str(text),
        Err(_) => into.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |e| out.push((e.event.to_owned(), e.data.to_owned())));
        }
        parser.finish(|e| out.push((e.event.to_owned(), e.data.to_owned())));
        out
    }

    #[test]
    fn every_split_of_every_line_ending_gives_the_same_events() {
        let text = "event: a\ndata: 1\ndata:2\n\n: comment\r\nevent: b\r\ndata: é\r\n\r\ndata: x\rdata: y\r\rid: 7\nretry: 1\ndata\n\ndata: tail";
        let want = vec![
            ("a".to_owned(), "1\n2".to_owned()),
            ("b".to_owned(), "é".to_owned()),
            (String::new(), "x\ny".to_owned()),
            (String::new(), String::new()),
            (String::new(), "tail".to_owned()),
        ];
        let bytes = text.as_bytes();
        assert_eq!(events(&[bytes]), want);
        for at in 0..=bytes.len() {
            assert_eq!(events(&[&bytes[..at], &bytes[at..]]), want, "split at {at}");
        }
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(events(&single), want);
    }

    #[test]
    fn an_event_without_data_is_not_given() {
        assert!(events(&[b"event: ping\n\n: keep-alive\n\n"]).is_empty());
    }
}
