//! Metric edge cases as golden files: `tests/golden/*.golden`, events in, expected series out.
//!
//! A file holds one set of events and the queries asked of it:
//!
//! ```text
//! # comment
//! event A A-1 dossier.received 2024-03-31T23:30:00+07:00 channel=online due_at=2024-04-02T17:00:00+07:00
//! event A - directive.task 2024-03-01T09:00:00+07:00 task_id=T1 status=assigned due_at=…
//!
//! query on_time_rate month 2024-03-01 2024-07-31 agency=A
//! ----
//! 2024-03-01 0.5 1 2
//!
//! ranking on_time_rate 2024-07-01 2024-07-31
//! ----
//! previous 2024-05-31 2024-06-30
//! B 1 1 3 3 - -
//! ```
//!
//! An event line is `event <agency> <dossier or -> <type> <occurred_at> <data field=value>…`,
//! built with `parwatch_proto::testing::TestEvent` (`"quoted"` values are strings, `true`,
//! `false` and numbers are JSON literals); event `i` (from 0) gets the id `e<i>`. A `query`
//! answers one row per bucket (`bucket value numerator denominator`), a `ranking` the previous
//! period and one row per agency (`agency rank value numerator denominator previous_rank
//! change`); `-` is null, values have at most 6 decimals, and a refused request answers
//! `error: <message>`.
//!
//! Every file is answered by the projection of its events arriving in three orders (as listed,
//! scrambled, reversed), one event repeated, over three commits: the answers must agree.
//! `PARWATCH_BLESS=1 cargo test -p parwatch-metrics golden` rewrites the expected rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use parwatch_lake::StoredEvent;
use parwatch_metrics::{Bucket, MetricError, Rollups, metric};
use parwatch_proto::EventType;
use parwatch_proto::testing::TestEvent;
use serde_json::Value;

use crate::common::{arrival_orders, date, lake_with, projector};

/// The environment variable that makes the runner write answers instead of checking them.
const BLESS: &str = "PARWATCH_BLESS";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn golden_files_match_the_projection() {
    let mut files: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "golden"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files in {:?}", golden_dir());
    let bless = std::env::var(BLESS).is_ok_and(|v| v == "1");
    let failures: Vec<String> = files.iter().filter_map(|f| run_file(f, bless)).collect();
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (- expected, + actual); rerun with {BLESS}=1 to accept:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checks (or, blessing, rewrites) one file; the differences, if any.
fn run_file(path: &Path, bless: bool) -> Option<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let events = events_of(&name, &text);
    let projectors: Vec<_> = arrival_orders(events.len())
        .iter()
        .map(|order| projection_of(&events, order))
        .collect();
    let published: Vec<_> = projectors.iter().map(|(_tmp, p)| p.rollups()).collect();
    let projections: Vec<&Rollups> = published.iter().map(|r| &**r).collect();
    let (answered, diffs) = compare(&name, &text, &projections);
    if bless {
        if answered != text {
            std::fs::write(path, answered).unwrap();
        }
        return None;
    }
    (!diffs.is_empty()).then_some(diffs)
}

/// Asserts that `p` answers every query of golden file `name` as expected, for tests that
/// reach a projection by another path (a snapshot, a restart).
pub(crate) fn assert_answers(name: &str, p: &Rollups) {
    let text = std::fs::read_to_string(golden_dir().join(name)).unwrap();
    let (_, diffs) = compare(name, &text, &[p]);
    assert!(diffs.is_empty(), "(- expected, + actual)\n{diffs}");
}

/// `text` with every query's rows answered by `projections` (which must agree), and the
/// differences from the expected rows.
fn compare(name: &str, text: &str, projections: &[&Rollups]) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut diffs = String::new();
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        out.push_str(line);
        out.push('\n');
        at += 1;
        if !(line.starts_with("query ") || line.starts_with("ranking ")) {
            // A misspelt line would otherwise check nothing.
            assert!(
                line.trim().is_empty() || line.starts_with('#') || line.starts_with("event "),
                "{name}:{at}: not a comment, event, query or ranking: {line:?}"
            );
            continue;
        }
        assert_eq!(
            lines.get(at).copied(),
            Some("----"),
            "{name}:{at}: a query is followed by ----"
        );
        at += 1;
        let expected_end = lines[at..]
            .iter()
            .position(|l| l.trim().is_empty())
            .map_or(lines.len(), |n| at + n);
        let expected = &lines[at..expected_end];
        at = expected_end;

        let answers: Vec<Vec<String>> = projections.iter().map(|p| answer(p, line)).collect();
        for (order, other) in answers.iter().enumerate().skip(1) {
            assert_eq!(
                &answers[0], other,
                "{name}: `{line}` depends on the arrival order (order {order})"
            );
        }
        let actual = &answers[0];
        out.push_str("----\n");
        for row in actual {
            out.push_str(row);
            out.push('\n');
        }
        if expected != actual.as_slice() {
            let _ = writeln!(diffs, "{name}: {line}\n{}", diff(expected, actual));
        }
    }
    (out, diffs)
}

/// The events of golden file `name` (in `tests/golden/`), for tests that ask more of them
/// than series and rankings.
pub(crate) fn events(name: &str) -> Vec<TestEvent> {
    let text = std::fs::read_to_string(golden_dir().join(name)).unwrap();
    events_of(name, &text)
}

/// The `event` lines of a golden file's `text`, event `i` with the id `e<i>`.
fn events_of(name: &str, text: &str) -> Vec<TestEvent> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| Some((n, line.strip_prefix("event ")?)))
        .enumerate()
        .map(|(i, (n, line))| {
            parse_event(line)
                .unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1))
                .id(format!("e{i}"))
        })
        .collect()
}

/// `<agency> <dossier or -> <type> <occurred_at> <field=value>…` as a test event.
fn parse_event(line: &str) -> Result<TestEvent, String> {
    let words = split_words(line)?;
    let [agency, dossier, ty, at, fields @ ..] = words.as_slice() else {
        return Err(format!(
            "expected agency, dossier, type, time, fields: {line:?}"
        ));
    };
    let ty = EventType::parse(ty).ok_or_else(|| format!("unknown event type {ty:?}"))?;
    let mut event = TestEvent::new(ty).agency(agency).at(at.as_str());
    event = match dossier.as_str() {
        "-" => event.no_dossier(),
        id => event.dossier(id),
    };
    for field in fields {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("expected field=value, got {field:?}"))?;
        event = event.field(key, literal(value));
    }
    Ok(event)
}

/// Splits on spaces, keeping `"quoted text"` (after `=`) in one word, quotes included.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = vec![];
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err(format!("unclosed quote in {line:?}"));
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// A field's value: `"text"` is a string, a JSON literal (number, boolean) itself, else text.
fn literal(text: &str) -> Value {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => Value::from(quoted),
        None => match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::from(text),
        },
    }
}

/// The projection of `events` arriving in `order`, the first one twice (the same id folds
/// once), over three commits.
fn projection_of(
    events: &[TestEvent],
    order: &[usize],
) -> (
    tempfile::TempDir,
    std::sync::Arc<parwatch_metrics::Projector>,
) {
    let stored = |i: usize| StoredEvent {
        event: events[i].build(),
        stream_seq: i as u64 + 1,
    };
    let stored: Vec<_> = order
        .iter()
        .chain(order.first())
        .map(|&i| stored(i))
        .collect();
    let third = stored.len() / 3;
    let groups = vec![
        stored[..third].to_vec(),
        stored[third..2 * third].to_vec(),
        stored[2 * third..].to_vec(),
    ];
    let (tmp, lake) = lake_with(groups);
    let projector = projector(&lake);
    (tmp, projector)
}

/// The answer rows of a `query` or `ranking` line.
fn answer(p: &Rollups, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let result = match words.as_slice() {
        ["query", name, bucket, from, to] => series(p, name, bucket, from, to, None),
        ["query", name, bucket, from, to, agency] if agency.starts_with("agency=") => {
            series(p, name, bucket, from, to, agency.strip_prefix("agency="))
        }
        ["ranking", name, from, to] => ranking(p, name, from, to),
        _ => panic!(
            "expected `query <metric> <bucket> <from> <to> [agency=<code>]` or `ranking <metric> <from> <to>`: {line:?}"
        ),
    };
    result.unwrap_or_else(|e| vec![format!("error: {e}")])
}

fn series(
    p: &Rollups,
    name: &str,
    bucket: &str,
    from: &str,
    to: &str,
    agency: Option<&str>,
) -> Result<Vec<String>, MetricError> {
    let def = metric(name).ok_or_else(|| MetricError::UnknownMetric(name.to_owned()))?;
    let bucket = Bucket::parse(bucket).ok_or_else(|| MetricError::UnknownBucket(bucket.into()))?;
    let series = p.series(def, date(from), date(to), bucket, agency, false)?;
    assert_eq!(series.len(), 1, "one series when not grouped by agency");
    Ok(series[0]
        .points
        .iter()
        .map(|pt| {
            format!(
                "{} {} {} {}",
                pt.bucket,
                number(pt.value),
                opt(pt.numerator),
                opt(pt.denominator)
            )
        })
        .collect())
}

fn ranking(p: &Rollups, name: &str, from: &str, to: &str) -> Result<Vec<String>, MetricError> {
    let def = metric(name).ok_or_else(|| MetricError::UnknownMetric(name.to_owned()))?;
    let ranking = p.ranking(def, date(from), date(to))?;
    let (before_from, before_to) = ranking.previous;
    let mut rows = vec![format!("previous {before_from} {before_to}")];
    rows.extend(ranking.rows.iter().map(|r| {
        format!(
            "{} {} {} {} {} {} {}",
            r.agency_code,
            opt(r.rank),
            number(r.value),
            opt(r.numerator),
            opt(r.denominator),
            opt(r.previous_rank),
            opt(r.change)
        )
    }));
    Ok(rows)
}

fn opt(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A value with at most 6 decimals, trailing zeros cut.
fn number(value: Option<f64>) -> String {
    let Some(v) = value else {
        return "-".to_owned();
    };
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0" } else { text }.to_owned()
}

/// Expected and actual rows, common ones indented, the others marked `-` and `+`.
fn diff(expected: &[&str], actual: &[String]) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => {
                let _ = writeln!(out, "    {e}");
            }
            (e, a) => {
                if let Some(e) = e {
                    let _ = writeln!(out, "  - {e}");
                }
                if let Some(a) = a {
                    let _ = writeln!(out, "  + {a}");
                }
            }
        }
    }
    out
}
