//! The audit trail: one log line per SQL statement, with who ran it, how long, how many rows.
//!
//! Every text field is recorded as a string value, never with `Display`: the text log format
//! writes such values quoted with newlines and control characters escaped, the JSON format as
//! JSON strings, so no SQL (or error quoting it) can end the line and forge another.

use std::time::Instant;

use crate::Principal;

/// One statement being audited; the line is written when it is dropped (after the last row,
/// or on failure), under the log target `parwatch::audit`.
#[derive(Debug)]
pub struct Audit {
    token_id: String,
    agency: Option<String>,
    via: &'static str,
    sql: String,
    started: Instant,
    rows: usize,
    error: Option<String>,
}

impl Audit {
    /// Starts auditing `sql` run by `principal` through `via` (`http`, `pg`).
    pub fn start(principal: &Principal, via: &'static str, sql: String) -> Self {
        Self {
            token_id: principal.token_id.clone(),
            agency: principal.agency.clone(),
            via,
            sql,
            started: Instant::now(),
            rows: 0,
            error: None,
        }
    }

    /// Counts rows sent.
    pub fn add_rows(&mut self, rows: usize) {
        self.rows += rows;
    }

    /// Records why the statement failed.
    pub fn fail(&mut self, error: &str) {
        self.error = Some(error.to_owned());
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "parwatch::audit",
            token = self.token_id.as_str(),
            agency = self.agency.as_deref().unwrap_or("*"),
            via = self.via,
            rows = self.rows,
            elapsed_ms = format_args!("{elapsed_ms:.1}"),
            error = self.error.as_deref().unwrap_or(""),
            sql = self.sql.as_str(),
            "sql"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::Role;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// SQL ending the audit line and writing one for another token.
    const FORGED: &str = "SELECT 1\n2026-12-05T00:00:00Z  INFO parwatch::audit: sql \
                          token=bbbb2222 agency=\"*\"\r\u{1b}[2K\u{0}";

    /// A statement whose SQL (and error) try to forge an audit line of another token.
    fn forge() {
        let principal = Principal {
            token_id: "aaaa1111".to_owned(),
            role: Role::Analyst,
            agency: Some("000.00.01.H02".to_owned()),
        };
        let mut audit = Audit::start(&principal, "http", FORGED.to_owned());
        audit.fail("bad\nline");
    }

    fn lines(json: bool) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone());
        if json {
            tracing::subscriber::with_default(builder.json().finish(), forge);
        } else {
            tracing::subscriber::with_default(builder.finish(), forge);
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn sql_cannot_forge_a_line_in_any_log_format() {
        let text = lines(false);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains(r#"sql="SELECT 1\n2026"#), "{text}");
        assert!(text.contains(r#"error="bad\nline""#), "{text}");
        assert!(text.contains("token=\"aaaa1111\""), "{text}");
        let json = lines(true);
        assert_eq!(json.lines().count(), 1, "{json}");
        let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(line["fields"]["sql"], FORGED);
        assert_eq!(line["fields"]["token"], "aaaa1111");
    }
}
