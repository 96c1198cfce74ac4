//! [`SseDecoder`]: an upstream `text/event-stream` decoded into JSON items, within a size limit.

use alknet_http_core::CallError;
use serde_json::Value;

/// An incremental `text/event-stream` parser: one item per event with at least one `data:`
/// line (JSON if it parses, else the string; empty → null). Handles CRLF, CR and LF, a leading
/// BOM, comments, and events split across chunks.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    buffer: Vec<u8>,
    data: Option<String>,
    started: bool,
    limit: usize,
    /// The last byte was a CR, so a following LF belongs to the same line end.
    after_cr: bool,
}

impl SseDecoder {
    pub(crate) fn new(limit: usize) -> Self {
        SseDecoder {
            buffer: Vec::new(),
            data: None,
            started: false,
            limit,
            after_cr: false,
        }
    }

    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<Vec<Value>, CallError> {
        let mut items = Vec::new();
        if !self.started && !chunk.is_empty() {
            self.buffer.extend_from_slice(chunk);
            if self.buffer.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buffer) {
                return Ok(items);
            }
            self.started = true;
            let pending = std::mem::take(&mut self.buffer);
            let rest = pending.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&pending);
            return self.feed_lines(rest, items);
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.feed_lines(chunk, std::mem::take(&mut items))
    }

    fn feed_lines(&mut self, chunk: &[u8], mut items: Vec<Value>) -> Result<Vec<Value>, CallError> {
        let mut i = 0;
        while i < chunk.len() {
            let byte = chunk[i];
            if byte == b'\n' || byte == b'\r' {
                let line = std::mem::take(&mut self.buffer);
                self.line(&line, &mut items);
                if byte == b'\r' {
                    if chunk.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    } else if i + 1 == chunk.len() {
                        self.after_cr = true;
                    }
                }
            } else {
                self.buffer.push(byte);
            }
            i += 1;
        }
        let pending = self.buffer.len() + self.data.as_ref().map_or(0, String::len);
        if pending > self.limit {
            return Err(CallError::internal(format!(
                "an upstream event exceeds {} bytes",
                self.limit
            )));
        }
        Ok(items)
    }

    fn line(&mut self, line: &[u8], items: &mut Vec<Value>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                items.push(if data.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&data).unwrap_or(Value::String(data))
                });
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Value> {
        let mut decoder = SseDecoder::new(1024);
        chunks
            .iter()
            .flat_map(|c| decoder.feed(c).unwrap())
            .collect()
    }

    #[test]
    fn sse_frames_decode_across_chunks_and_line_endings() {
        let whole = b"\xEF\xBB\xBF: hello\n\ndata: {\"n\":1}\n\ndata: two\ndata: lines\r\n\r\ndata:\n\nevent: x\nid: 3\n\ndata: 4\r\rdata: tail";
        let expected = vec![json!({"n": 1}), json!("two\nlines"), Value::Null, json!(4)];
        assert_eq!(decode_all(&[whole]), expected);
        // Every split point gives the same events.
        for split in 0..whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(decode_all(&[a, b]), expected, "split at {split}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(decode_all(&bytes), expected);
    }

    #[test]
    fn sse_events_over_the_limit_are_an_error() {
        let mut decoder = SseDecoder::new(12);
        assert!(decoder.feed(b"data: 123").is_ok());
        let error = decoder.feed(b"456789").unwrap_err();
        assert_eq!(error.code, "INTERNAL");
    }
}
