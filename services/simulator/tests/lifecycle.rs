//! Lifecycle invariants of every dossier of the two-year sample.

use chrono::{DateTime, Timelike, Utc};
use parwatch_proto::{Channel, EventData, PostalKind, local_date, local_offset};
use parwatch_simulator::Calendar;

use crate::sample::{date, two_years};

#[test]
fn events_come_in_time_order() {
    let sample = two_years();
    assert!(
        sample
            .raw
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
}

#[test]
fn every_dossier_follows_its_lifecycle() {
    let sample = two_years();
    let calendar = Calendar::new();
    let window_end = date(2025, 1, 1)
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(local_offset())
        .unwrap()
        .to_utc();
    let (mut late, mut apologies, mut resolved) = (0, 0, 0);
    for (id, events) in sample.dossiers() {
        let received: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::DossierReceived {
                    channel,
                    due_at,
                    online_mode,
                    ..
                } => Some((
                    e.occurred_at,
                    *channel,
                    *due_at,
                    *online_mode,
                    &e.agency_code,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(received.len(), 1, "{id}: one receipt");
        let (received_at, channel, due_at, online_mode, agency) = received[0];

        assert!(
            id.starts_with(&format!(
                "{agency}-{}-",
                local_date(received_at).format("%y%m%d")
            )),
            "{id}"
        );
        assert_eq!(
            online_mode.is_some(),
            channel == Channel::Online,
            "{id}: online_mode iff online"
        );
        let due_local = due_at.with_timezone(&local_offset());
        assert!(
            calendar.is_working_day(due_local.date_naive()),
            "{id}: due {due_local} on a day off"
        );
        assert_eq!((due_local.hour(), due_local.minute()), (17, 0), "{id}");
        assert!(
            calendar.is_working_day(local_date(received_at)),
            "{id}: received on a day off"
        );

        let resolved_at: Option<DateTime<Utc>> = events.iter().find_map(|e| {
            matches!(e.data, EventData::DossierResolved { .. }).then_some(e.occurred_at)
        });
        let late_at = events.iter().find_map(|e| match e.data {
            EventData::DossierLate { due_at: missed } => Some((e.occurred_at, missed)),
            _ => None,
        });
        if let Some(at) = resolved_at {
            resolved += 1;
            assert!(at > received_at, "{id}: resolved before receipt");
            assert_eq!(
                late_at.is_some(),
                at > due_at,
                "{id}: late iff resolved after due"
            );
        } else if due_at < window_end {
            assert!(
                late_at.is_some(),
                "{id}: open past due without a late event"
            );
        }
        if let Some((at, missed)) = late_at {
            late += 1;
            assert_eq!((at, missed), (due_at, due_at), "{id}");
        }
        for event in &events {
            match &event.data {
                EventData::DossierApology { new_due_at, .. } => {
                    apologies += 1;
                    assert!(
                        late_at.is_some() || due_at >= window_end,
                        "{id}: apology without being late"
                    );
                    assert!(
                        event.occurred_at > received_at && *new_due_at > due_at,
                        "{id}"
                    );
                    if let Some(at) = resolved_at {
                        assert!(
                            event.occurred_at < at && *new_due_at >= at,
                            "{id}: apology after resolution or dishonest"
                        );
                    }
                }
                EventData::OnlineApplication { .. } => {
                    assert_eq!(channel, Channel::Online, "{id}");
                    assert!(event.occurred_at < received_at, "{id}");
                }
                EventData::PostalSubmission {
                    kind: PostalKind::Dossier,
                } => {
                    assert_eq!(channel, Channel::Postal, "{id}");
                    assert!(event.occurred_at < received_at, "{id}");
                }
                EventData::PostalSubmission {
                    kind: PostalKind::Result,
                } => {
                    assert!(
                        resolved_at.is_some_and(|r| r < event.occurred_at),
                        "{id}: result posted before resolution"
                    );
                }
                _ => {}
            }
        }
    }
    assert!(
        late > 500 && apologies > 200 && resolved > 50_000,
        "late {late}, apologies {apologies}, resolved {resolved}"
    );
}

#[test]
fn no_receipts_on_holidays_and_few_events_on_weekends() {
    let sample = two_years();
    let calendar = Calendar::new();
    for event in &sample.events {
        if matches!(event.data, EventData::DossierReceived { .. }) {
            let day = local_date(event.occurred_at);
            assert!(calendar.is_working_day(day), "receipt on {day}");
        }
    }
    for holiday in [
        date(2024, 2, 10),
        date(2024, 4, 30),
        date(2024, 9, 2),
        date(2023, 1, 23),
    ] {
        assert!(!calendar.is_working_day(holiday));
    }
}
