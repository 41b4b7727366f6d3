//! The contract's golden examples and JSON Schemas agree with the Rust validator.

use std::path::{Path, PathBuf};

use parwatch_proto::{
    ActivityStatus, AgencyKind, AgencyLevel, Assessor, Channel, EventData, EventType, Outcome,
    Portal, PostalKind, ServiceMode, TaskStatus, validate,
};
use serde_json::Value;

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json_files(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[test]
fn every_valid_example_validates() {
    let examples = json_files(&proto_dir().join("examples/valid"));
    assert!(examples.len() >= EventType::ALL.len());
    let mut seen = std::collections::HashSet::new();
    for (name, event) in examples {
        let subject = format!("par.events.v1.{}", event["type"].as_str().unwrap());
        let body = serde_json::to_vec(&event).unwrap();
        let parsed = validate(&subject, &body).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(
            parsed.event_id,
            event["event_id"].as_str().unwrap(),
            "{name}"
        );
        seen.insert(parsed.event_type());
    }
    assert_eq!(
        seen.len(),
        EventType::ALL.len(),
        "one example per type at least"
    );
}

#[test]
fn every_invalid_example_is_rejected_with_its_reason() {
    let cases = json_files(&proto_dir().join("examples/invalid"));
    let mut faults = std::collections::HashSet::new();
    for (name, case) in cases {
        let body = match (&case["event"], &case["raw"]) {
            (Value::Null, Value::String(raw)) => raw.as_bytes().to_vec(),
            (event, _) => serde_json::to_vec(event).unwrap(),
        };
        let rejection = validate(case["subject"].as_str().unwrap(), &body)
            .map(|_| ())
            .expect_err(&name);
        assert_eq!(
            rejection.field, case["expect"]["field"],
            "{name}: {rejection}"
        );
        assert_eq!(
            rejection.fault.code(),
            case["expect"]["fault"],
            "{name}: {rejection}"
        );
        faults.insert(rejection.fault);
    }
    assert!(faults.len() >= 8, "the examples cover at least 8 faults");
}

fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(proto_dir().join("schemas").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn names<T: std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(T::to_string).collect()
}

/// The schema files state the same required fields and enumerations as the Rust types.
#[test]
fn schemas_match_the_rust_contract() {
    let envelope = schema("envelope.schema.json");
    assert_eq!(
        strings(&envelope["required"]),
        [
            "event_id",
            "type",
            "schema_version",
            "occurred_at",
            "source",
            "agency_code",
            "data"
        ]
    );
    let enums: [(&str, &str, Vec<String>); 13] = [
        ("dossier.received", "channel", names(Channel::ALL)),
        ("dossier.received", "online_mode", names(ServiceMode::ALL)),
        ("online.application", "mode", names(ServiceMode::ALL)),
        ("online.application", "portal", names(Portal::ALL)),
        ("postal.submission", "kind", names(PostalKind::ALL)),
        ("dossier.resolved", "outcome", names(Outcome::ALL)),
        ("dossier.resolved", "digitized", vec![]),
        ("par.score", "assessor", names(Assessor::ALL)),
        ("par.score", "agency_kind", names(AgencyKind::ALL)),
        ("par.score", "evidence", vec![]),
        ("plan.activity", "status", names(ActivityStatus::ALL)),
        ("directive.task", "status", names(TaskStatus::ALL)),
        ("agency.registered", "level", names(AgencyLevel::ALL)),
    ];
    for (ty, field, values) in enums {
        let s = schema(&format!("{ty}.schema.json"));
        let prop = &s["properties"]["data"]["properties"][field];
        assert!(prop.is_object(), "{ty} schema lacks data.{field}");
        if !values.is_empty() {
            assert_eq!(strings(&prop["enum"]), values, "{ty} data.{field}");
        }
    }
    for ty in EventType::ALL {
        let s = schema(&format!("{ty}.schema.json"));
        assert_eq!(s["properties"]["type"]["const"], ty.as_str());
        let required = s["required"]
            .as_array()
            .map_or(vec![], |_| strings(&s["required"]));
        assert_eq!(
            required.contains(&"dossier_id".to_owned()),
            ty.needs_dossier(),
            "{ty}"
        );
        // Each required data field, when absent, is what the validator names.
        let example =
            std::fs::read_to_string(proto_dir().join(format!("examples/valid/{ty}.json"))).unwrap();
        for field in strings(&s["properties"]["data"]["required"]) {
            let mut event: Value = serde_json::from_str(&example).unwrap();
            event["data"].as_object_mut().unwrap().remove(&field);
            let err = validate(&ty.subject(), &serde_json::to_vec(&event).unwrap()).unwrap_err();
            assert_eq!(err.field, format!("data.{field}"), "{ty}");
        }
    }
}

/// A task's completion time goes with its status, as the schema's if/then/else says.
#[test]
fn completion_time_comes_exactly_with_completion() {
    let s = schema("directive.task.schema.json");
    let data = &s["properties"]["data"];
    assert_eq!(data["if"]["properties"]["status"]["const"], "completed");
    assert_eq!(strings(&data["then"]["required"]), ["completed_at"]);
    assert_eq!(strings(&data["else"]["not"]["required"]), ["completed_at"]);
    let example =
        std::fs::read_to_string(proto_dir().join("examples/valid/directive.task.json")).unwrap();
    let completed: Value = serde_json::from_str(&example).unwrap();
    let subject = EventType::DirectiveTask.subject();
    let mut assigned = completed.clone();
    assigned["data"]["status"] = "assigned".into();
    let err = validate(&subject, &serde_json::to_vec(&assigned).unwrap()).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.fault.code()),
        ("data.completed_at", "bad_value")
    );
    assigned["data"]
        .as_object_mut()
        .unwrap()
        .remove("completed_at");
    validate(&subject, &serde_json::to_vec(&assigned).unwrap()).unwrap();
}

/// Scores are numbers within their maximum; years are whole numbers.
#[test]
fn scores_stay_within_their_maximum() {
    let example =
        std::fs::read_to_string(proto_dir().join("examples/valid/par.score.json")).unwrap();
    let base: Value = serde_json::from_str(&example).unwrap();
    let subject = EventType::ParScore.subject();
    let check = |field: &str, value: Value| {
        let mut event = base.clone();
        event["data"][field] = value;
        validate(&subject, &serde_json::to_vec(&event).unwrap())
            .map(|e| e.data)
            .map_err(|r| (r.field, r.fault.code()))
    };
    assert!(check("score", 2.into()).is_ok(), "the maximum itself");
    assert!(check("score", 0.into()).is_ok());
    assert_eq!(
        check("score", (-0.5).into()).unwrap_err(),
        ("data.score".to_owned(), "bad_value")
    );
    assert_eq!(
        check("max", 0.into()).unwrap_err(),
        ("data.max".to_owned(), "bad_value")
    );
    assert_eq!(
        check("year", 2022.5.into()).unwrap_err(),
        ("data.year".to_owned(), "wrong_type")
    );
    assert_eq!(
        check("year", 1999.into()).unwrap_err(),
        ("data.year".to_owned(), "bad_value")
    );
    let parsed = check("agency_kind", Value::Null).unwrap();
    assert!(matches!(
        parsed,
        parwatch_proto::EventData::ParScore {
            agency_kind: None,
            assessor: Assessor::Appraisal,
            year: 2022,
            ..
        }
    ));
}

/// Registry events: a split's weights are given for all successors or none and sum to 1; no
/// agency names itself; registry types need no dossier.
#[test]
fn registry_events_name_their_successors_and_weights() {
    let example =
        std::fs::read_to_string(proto_dir().join("examples/valid/agency.split.json")).unwrap();
    let base: Value = serde_json::from_str(&example).unwrap();
    let subject = EventType::AgencySplit.subject();
    let check = |targets: Value| {
        let mut event = base.clone();
        event["data"]["targets"] = targets;
        validate(&subject, &serde_json::to_vec(&event).unwrap())
            .map(|e| e.data)
            .map_err(|r| (r.field, r.fault.code()))
    };
    // Within the tolerance of 0.001, and weights of one third.
    let thirds = serde_json::json!([
        {"agency_code": "A", "weight": 0.3333},
        {"agency_code": "B", "weight": 0.3333},
        {"agency_code": "C", "weight": 0.3334}
    ]);
    let Ok(EventData::AgencySplit { targets, .. }) = check(thirds) else {
        panic!("thirds are valid")
    };
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[2].weight, Some(0.3334));
    let none = check(serde_json::json!([{"agency_code": "A"}, {"agency_code": "B"}])).unwrap();
    assert!(
        matches!(none, EventData::AgencySplit { ref targets, .. } if targets.iter().all(|t| t.weight.is_none()))
    );
    let bad = |targets: Value| check(targets).unwrap_err();
    assert_eq!(
        bad(serde_json::json!([])),
        ("data.targets".to_owned(), "bad_length")
    );
    assert_eq!(
        bad(serde_json::json!({"agency_code": "A"})),
        ("data.targets".to_owned(), "wrong_type")
    );
    assert_eq!(
        bad(
            serde_json::json!([{"agency_code": "A", "weight": 0.5}, {"agency_code": "A", "weight": 0.5}])
        ),
        ("data.targets[1].agency_code".to_owned(), "bad_value")
    );
    assert_eq!(
        bad(
            serde_json::json!([{"agency_code": "A", "weight": 0}, {"agency_code": "B", "weight": 1}])
        ),
        ("data.targets[0].weight".to_owned(), "bad_value")
    );
    assert_eq!(
        bad(serde_json::json!([{"agency_code": "A", "weight": "0.5"}])),
        ("data.targets[0].weight".to_owned(), "wrong_type")
    );
    assert_eq!(
        bad(serde_json::json!([{"weight": 1}])),
        ("data.targets[0].agency_code".to_owned(), "missing_field")
    );
    // The split agency itself is no successor.
    let own = base["agency_code"].as_str().unwrap();
    assert_eq!(
        bad(serde_json::json!([{"agency_code": own}])),
        ("data".to_owned(), "bad_value")
    );
    for ty in EventType::ALL.iter().filter(|t| t.is_registry()) {
        assert!(!ty.needs_dossier(), "{ty}");
    }
}

/// Effective dates are plain local dates of the contract's years.
#[test]
fn effective_dates_are_local_dates() {
    let example =
        std::fs::read_to_string(proto_dir().join("examples/valid/agency.merged.json")).unwrap();
    let base: Value = serde_json::from_str(&example).unwrap();
    let subject = EventType::AgencyMerged.subject();
    let check = |date: &str| {
        let mut event = base.clone();
        event["data"]["effective_date"] = date.into();
        validate(&subject, &serde_json::to_vec(&event).unwrap())
            .map(|e| e.data)
            .map_err(|r| (r.field, r.fault.code()))
    };
    let Ok(EventData::AgencyMerged { effective_date, .. }) = check("2025-07-01") else {
        panic!("a date")
    };
    assert_eq!(effective_date.to_string(), "2025-07-01");
    for (text, fault) in [
        ("2025-7-1", "bad_timestamp"),
        ("2025-02-30", "bad_timestamp"),
        ("01/07/2025", "bad_timestamp"),
        ("1999-12-31", "bad_value"),
    ] {
        assert_eq!(
            check(text).unwrap_err(),
            ("data.effective_date".to_owned(), fault),
            "{text}"
        );
    }
}
