//! The audit trail: one log line per SQL statement, with who ran it, how long, how many rows.

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
            token = %self.token_id,
            agency = self.agency.as_deref().unwrap_or("*"),
            via = self.via,
            rows = self.rows,
            elapsed_ms = format_args!("{elapsed_ms:.1}"),
            error = self.error.as_deref().unwrap_or(""),
            sql = %self.sql,
            "sql"
        );
    }
}
