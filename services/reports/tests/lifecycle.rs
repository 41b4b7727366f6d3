//! A report's life on a real lake: rendered with hand-checked figures, published to the lake's
//! store (and seen by another shelf over the same lake), restated by late events, reproduced
//! byte for byte at its version after compaction, compared with today's figures with the late
//! events named, and refused clearly once vacuum removed its version's files.

use std::time::Duration;

use chrono::Utc;
use parwatch_lake::CompactionPolicy;
use parwatch_reports::{Ask, Catalogue, Figures, Published, Shelf, compare, parse, reproduce, run};
use parwatch_scoring::Models;

use crate::common::{A, B, Events, lake, late_events, projector, quarter, write};

fn q1(agency: Option<&str>) -> Ask {
    Ask {
        period: "2024-Q1".parse().unwrap(),
        agency: agency.map(str::to_owned),
    }
}

fn figure(f: &Figures, name: &str) -> Option<f64> {
    f.figures[name].value
}

/// The cells of a row of a table, by its key.
fn row(f: &Figures, table: &str, key: &str) -> Vec<Option<f64>> {
    let t = f.tables().find(|t| t.id == table).unwrap();
    t.lines
        .iter()
        .find(|l| l.key == key)
        .unwrap_or_else(|| panic!("{table}: no row {key}"))
        .cells
        .clone()
}

#[test]
fn the_province_report_has_the_quarters_figures() {
    let (_tmp, lake) = lake();
    write(&lake, quarter(&mut Events::default()));
    let projector = projector(&lake);
    let catalogue = Catalogue::builtin().unwrap();
    let models = Models::builtin();
    let f = run(
        catalogue.get("province").unwrap(),
        &q1(None),
        &projector,
        None,
        &models,
    )
    .unwrap();

    let expected = [
        ("received", 7.0),
        ("counter", 3.0),
        ("online", 3.0),
        ("postal", 1.0),
        ("resolved", 7.0),
        ("on_time", 4.0),
        ("late", 3.0),
        ("late_files", 3.0),
        ("apologised", 1.0),
        ("not_apologised", 2.0),
        ("digitised", 3.0),
        ("plan_done", 1.0),
        ("plan_due", 2.0),
        ("tasks_on_time", 1.0),
        ("tasks_due", 2.0),
    ];
    for (name, value) in expected {
        assert_eq!(figure(&f, name), Some(value), "{name}");
    }
    assert_eq!(figure(&f, "online_share"), Some(3.0 / 7.0));
    // Received, counter, online, postal, online share.
    assert_eq!(
        row(&f, "received_by_agency", A),
        [Some(4.0), Some(1.0), Some(2.0), Some(1.0), Some(0.5)]
    );
    assert_eq!(
        row(&f, "received_by_agency", "total")[..4],
        [Some(7.0), Some(3.0), Some(3.0), Some(1.0)]
    );
    // Resolved, on time, late, rate, late with and without apology, digitised, share.
    assert_eq!(
        row(&f, "resolved_by_agency", B)[..7],
        [
            Some(3.0),
            Some(2.0),
            Some(1.0),
            Some(2.0 / 3.0),
            Some(0.0),
            Some(1.0),
            Some(1.0)
        ]
    );
    assert_eq!(
        row(&f, "by_month", "2024-03")[..3],
        [Some(2.0), Some(1.0), Some(2.0)]
    );
    assert_eq!(row(&f, "by_month", "2024-01")[0], Some(3.0));
    assert_eq!(
        row(&f, "plan_by_agency", A)[..3],
        [Some(2.0), Some(1.0), Some(0.5)]
    );
    assert_eq!(row(&f, "plan_by_agency", B)[3..], [Some(2.0), Some(1.0)]);
    // PAR Index: rank, then places gained: A up one to first, B down one.
    let par = |key| {
        let cells = row(&f, "par_index", key);
        let n = cells.len();
        (cells[n - 4], cells[n - 1])
    };
    assert_eq!(par(A), (Some(1.0), Some(1.0)));
    assert_eq!(par(B), (Some(2.0), Some(-1.0)));
    let text = &f.sections[0].text.as_ref().unwrap().vi;
    assert!(
        text.contains("quý I năm 2024")
            && text.contains("tiếp nhận 7 hồ sơ")
            && text.contains("(42,9%)"),
        "{text}"
    );
    let en = &f.sections[0].text.as_ref().unwrap().en;
    assert!(en.contains("3 online (42.9%)"), "{en}");
}

#[test]
fn the_department_report_keeps_to_its_agency() {
    let (_tmp, lake) = lake();
    write(&lake, quarter(&mut Events::default()));
    let projector = projector(&lake);
    let catalogue = Catalogue::builtin().unwrap();
    let models = Models::builtin();
    let department = catalogue.get("department").unwrap();
    let f = run(department, &q1(Some(B)), &projector, None, &models).unwrap();
    assert_eq!(figure(&f, "received"), Some(3.0));
    assert_eq!(figure(&f, "tasks_on_time"), Some(1.0));
    for table in f.tables() {
        for line in &table.lines {
            assert!(
                line.key == B || line.key == "total" || line.key.starts_with("2024-"),
                "{}: {}",
                table.id,
                line.key
            );
        }
    }
    // Its place on on-time resolution: B 2/3 against A 2/4, so first of two.
    assert_eq!(row(&f, "rank_on_time", B)[..2], [Some(1.0), Some(2.0)]);
    let err = run(department, &q1(None), &projector, None, &models).unwrap_err();
    assert!(
        err.is_client_error() && err.to_string().contains("give agency=CODE"),
        "{err}"
    );
    let err = run(
        catalogue.get("province").unwrap(),
        &q1(Some(A)),
        &projector,
        None,
        &models,
    )
    .unwrap_err();
    assert!(err.to_string().contains("whole province"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_report_is_frozen_reproduced_and_explained() {
    let (_tmp, lake) = lake();
    let mut events = Events::default();
    let first = quarter(&mut events);
    let (early, rest) = first.split_at(first.len() / 2);
    write(&lake, early.to_vec());
    write(&lake, rest.to_vec());
    // Compaction and vacuum before publication: files unrelated to the version published.
    let merge_now = CompactionPolicy {
        max_files: 2,
        retention: Duration::ZERO,
        ..Default::default()
    };
    assert!(lake.compact(&merge_now).unwrap().files_deleted > 0);
    let projector = projector(&lake);
    let catalogue = Catalogue::builtin().unwrap();
    let models = Models::builtin();
    let definition = catalogue.get("province").unwrap();
    let figures = run(definition, &q1(None), &projector, None, &models).unwrap();
    let published = Published::new(figures, &definition.source, "admin-token", Utc::now()).unwrap();
    let shelf = Shelf::open(&lake).unwrap();
    shelf.put(&published).await.unwrap();
    assert!(
        shelf.put(&published).await.is_err(),
        "a published report is never replaced"
    );

    // Another node over the same lake sees it; a department's scope does not.
    let other = Shelf::open(&parwatch_lake::Lake::open(lake.location()).unwrap()).unwrap();
    let listed = other.list(None, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, published.id);
    assert_eq!(listed[0].lake_version, published.figures.lake_version);
    assert_eq!(other.get(None, &published.id).await.unwrap(), published);
    assert!(other.list(Some(A), None).await.unwrap().is_empty());
    assert!(other.get(Some(A), &published.id).await.is_err());

    // Late events restate the quarter; the projections follow.
    write(&lake, late_events(&mut events));
    projector.catch_up(&mut |_, _| {}).unwrap();
    let now = run(definition, &q1(None), &projector, None, &models).unwrap();
    assert_eq!(figure(&now, "received"), Some(8.0));
    assert_eq!(figure(&now, "apologised"), Some(2.0));
    assert_ne!(now.digest(), published.digest);

    // Compaction after publication keeps replaced files for its retention: the version
    // published reads as it did, byte for byte.
    let keep = CompactionPolicy {
        max_files: 2,
        ..Default::default()
    };
    assert!(lake.compact(&keep).unwrap().compactions > 0);
    let stored = shelf.get(None, &published.id).await.unwrap();
    let again = reproduce(&stored, &projector, &models).unwrap();
    assert_eq!(again.digest(), stored.digest);
    assert_eq!(again.canonical(), published.figures.canonical());

    // What changed: each difference with the late events behind it, linked to dossiers.
    let comparison = compare(&stored, now, &lake).unwrap();
    assert_eq!(comparison.events_since, 2, "{comparison:#?}");
    let diff = |table: &str, row: &str, en: &str| {
        comparison
            .differences
            .iter()
            .find(|d| d.table == table && d.row == row && d.column.en == en)
            .unwrap_or_else(|| {
                panic!(
                    "no difference {table}/{row}/{en}: {:#?}",
                    comparison.differences
                )
            })
    };
    let apologies = diff("resolved_by_agency", B, "Late, with apology");
    assert_eq!((apologies.published, apologies.now), (Some(0.0), Some(1.0)));
    let received = diff("received_by_agency", B, "Received");
    assert_eq!((received.published, received.now), (Some(3.0), Some(4.0)));
    assert!(
        received
            .causes
            .iter()
            .any(|c| c.dossier_id.as_deref() == Some("B4")),
        "{received:#?}"
    );
    let march = diff("by_month", "2024-03", "Received");
    assert_eq!(
        march
            .causes
            .iter()
            .map(|c| c.dossier_id.as_deref())
            .collect::<Vec<_>>(),
        [Some("B4")]
    );
    assert!(
        comparison
            .differences
            .iter()
            .all(|d| d.row != A && d.causes.iter().all(|c| c.agency_code == B)),
        "nothing of A changed: {:#?}",
        comparison.differences
    );

    // Vacuum past the published version's files: reproducing says so; the record stands.
    let forget = CompactionPolicy {
        max_files: 1,
        retention: Duration::ZERO,
        ..Default::default()
    };
    lake.compact(&forget).unwrap();
    let fresh = parwatch_metrics::Projector::new(lake.clone());
    let err = reproduce(&stored, &fresh, &models).unwrap_err();
    assert!(
        err.is_client_error() && err.to_string().contains("no version"),
        "{err}"
    );
    assert_eq!(shelf.get(None, &published.id).await.unwrap(), published);
}

/// A report by agency restated to the units of a date: A merged into B on 1 June 2024.
const RESTATED: &str = r#"
title = { vi = "Báo cáo", en = "Report" }
subject = "province"
issuer = { vi = "UBND TỈNH", en = "PROVINCIAL PEOPLE'S COMMITTEE" }
symbol = "BC-UBND"
units = "restated"
units_date = "2024-07-01"
[figures]
received = "received"
[[sections]]
id = "dossiers"
title = { vi = "Hồ sơ", en = "Dossiers" }
[[sections.tables]]
id = "by_agency"
title = { vi = "Theo cơ quan", en = "By agency" }
rows = "agency"
columns = [{ title = { vi = "Tiếp nhận", en = "Received" }, value = "received" }, { title = { vi = "Đúng hạn", en = "On time" }, value = "on_time_rate" }]
"#;

#[tokio::test]
async fn a_restated_report_counts_the_units_of_its_date_and_records_it() {
    let (_tmp, lake) = lake();
    let mut events = Events::default();
    let mut quarter = quarter(&mut events);
    events.merged(A, B, "2024-06-01");
    quarter.append(&mut events.out);
    write(&lake, quarter);
    let projector = projector(&lake);
    let models = Models::builtin();
    let keys = |f: &Figures| -> Vec<String> {
        f.tables()
            .next()
            .unwrap()
            .lines
            .iter()
            .map(|l| l.key.clone())
            .collect()
    };
    let restated = parse("restated", "restated.toml", RESTATED).unwrap();
    let f = run(&restated, &q1(None), &projector, None, &models).unwrap();
    // B takes A whole: received 4 + 3; on time (3 + 1) / (4 + 3), not the mean of 3/4 and 1/3.
    assert_eq!(f.units_date, Some("2024-07-01".parse().unwrap()));
    assert_eq!(keys(&f), [B, "total"]);
    let b = row(&f, "by_agency", B);
    assert_eq!(b[0], Some(7.0));
    assert!((b[1].unwrap() - 4.0 / 7.0).abs() < 1e-12, "{b:?}");
    assert_eq!(figure(&f, "received"), Some(7.0));

    // Restated without a date: to the units of the period's last day, before the merger.
    let to_end = parse(
        "r",
        "r.toml",
        &RESTATED.replace("units_date = \"2024-07-01\"\n", ""),
    )
    .unwrap();
    let f = run(&to_end, &q1(None), &projector, None, &models).unwrap();
    assert_eq!(f.units_date, Some("2024-03-31".parse().unwrap()));
    assert_eq!(keys(&f), [A, B, "total"]);
    // As recorded: no units recorded, and the published record keeps the view.
    let recorded = parse(
        "r",
        "r.toml",
        &RESTATED.replace("units = \"restated\"\nunits_date = \"2024-07-01\"\n", ""),
    )
    .unwrap();
    let f = run(&recorded, &q1(None), &projector, None, &models).unwrap();
    assert_eq!(
        (f.units_date, keys(&f)),
        (None, vec![A.to_owned(), B.to_owned(), "total".to_owned()])
    );
    let shelf = Shelf::open(&lake).unwrap();
    let f = run(&restated, &q1(None), &projector, None, &models).unwrap();
    let published = Published::new(f, &restated.source, "tester", Utc::now()).unwrap();
    shelf.put(&published).await.unwrap();
    let back = shelf.get(None, &published.id).await.unwrap();
    assert_eq!(back.figures.units_date, Some("2024-07-01".parse().unwrap()));
    assert_eq!(back.summary().units_date, back.figures.units_date);
    assert_eq!(
        reproduce(&back, &projector, &models).unwrap().digest(),
        published.digest
    );
}
