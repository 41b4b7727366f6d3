//! The contract's golden examples and JSON Schemas agree with the Rust validator.

use std::path::{Path, PathBuf};

use parwatch_proto::{
    ActivityStatus, AgencyKind, AgencyLevel, Assessor, Channel, EventData, EventType, Outcome,
    Portal, PostalKind, Rating, ServiceMode, TaskStatus, validate,
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
    let enums: [(&str, &str, Vec<String>); 15] = [
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
        ("dossier.synced", "portal", names(Portal::ALL)),
        ("dossier.rated", "rating", names(Rating::ALL)),
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
        assert_eq!(
            required.contains(&"procedure_code".to_owned()),
            ty.needs_procedure(),
            "{ty}"
        );
        assert_eq!(
            s["not"]["required"] == serde_json::json!(["dossier_id"]),
            ty.refuses_dossier(),
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

/// The online mode of a catalogued procedure is one of the service modes, or null for none.
#[test]
fn a_catalogued_procedure_may_offer_no_online_service() {
    let s = schema("procedure.catalogued.schema.json");
    let mut allowed = names(ServiceMode::ALL)
        .into_iter()
        .map(Value::from)
        .collect::<Vec<_>>();
    allowed.push(Value::Null);
    assert_eq!(
        s["properties"]["data"]["properties"]["online_mode"]["enum"],
        Value::Array(allowed)
    );
    let base = example("procedure.catalogued");
    for (mode, expected) in [
        (Value::Null, None),
        ("partial".into(), Some(ServiceMode::Partial)),
    ] {
        let mut event = base.clone();
        event["data"]["online_mode"] = mode;
        let Ok(EventData::ProcedureCatalogued { online_mode, .. }) = check(&event) else {
            panic!("a catalogued procedure")
        };
        assert_eq!(online_mode, expected);
    }
}

fn example(name: &str) -> Value {
    let path = proto_dir().join(format!("examples/valid/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `(field, fault)` of the rejection of `event`, or its typed data.
fn check(event: &Value) -> Result<EventData, (String, &'static str)> {
    let subject = format!("par.events.v1.{}", event["type"].as_str().unwrap());
    validate(&subject, &serde_json::to_vec(event).unwrap())
        .map(|e| e.data)
        .map_err(|r| (r.field, r.fault.code()))
}

/// Amounts of money are whole numbers of đồng, 0 or more; 0 is a valid (free) fee.
#[test]
fn fee_amounts_are_whole_non_negative_numbers() {
    for ty in ["fee.requested", "fee.paid"] {
        let base = example(ty);
        let amount = |value: Value| {
            let mut event = base.clone();
            event["data"]["amount_vnd"] = value;
            check(&event)
        };
        let field = || "data.amount_vnd".to_owned();
        assert!(amount(0.into()).is_ok(), "{ty}: free");
        assert!(amount(i64::MAX.into()).is_ok(), "{ty}: the largest");
        assert_eq!(amount((-1).into()).unwrap_err(), (field(), "bad_value"));
        assert_eq!(
            amount((i64::MAX as u64 + 1).into()).unwrap_err(),
            (field(), "bad_value")
        );
        assert_eq!(amount(1000.5.into()).unwrap_err(), (field(), "wrong_type"));
        assert_eq!(amount("1000".into()).unwrap_err(), (field(), "wrong_type"));
    }
    let Ok(EventData::FeePaid {
        amount_vnd,
        online,
        gateway,
    }) = check(&example("fee.paid"))
    else {
        panic!("a payment")
    };
    assert_eq!(
        (amount_vnd, online, gateway.as_deref()),
        (150_000, true, Some("national_payment_platform"))
    );
}

/// Every rating of the contract is accepted, nothing else.
#[test]
fn ratings_are_the_three_levels() {
    let base = example("dossier.rated");
    for &rating in Rating::ALL {
        let mut event = base.clone();
        event["data"]["rating"] = rating.as_str().into();
        assert_eq!(check(&event), Ok(EventData::DossierRated { rating }));
    }
    for text in ["neutral", "Satisfied", ""] {
        let mut event = base.clone();
        event["data"]["rating"] = text.into();
        assert_eq!(
            check(&event).unwrap_err(),
            ("data.rating".to_owned(), "bad_value"),
            "{text:?}"
        );
    }
}

/// The envelope of the 766 types: the dossier types name a dossier and a procedure, petitions
/// may name either, catalogue facts a procedure and no dossier.
#[test]
fn the_766_types_name_their_dossier_and_procedure() {
    let types_766 = [
        "supplement.requested",
        "supplement.provided",
        "fee.requested",
        "fee.paid",
        "component.digitised",
        "result.issued",
        "dossier.synced",
        "dossier.rated",
        "petition.received",
        "petition.answered",
        "procedure.catalogued",
    ];
    for name in types_766 {
        let ty = EventType::parse(name).unwrap();
        let base = example(name);
        check(&base).unwrap_or_else(|r| panic!("{name}: {r:?}"));
        let without = |key: &str| {
            let mut event = base.clone();
            event.as_object_mut().unwrap().remove(key);
            check(&event)
        };
        if ty.needs_dossier() {
            assert_eq!(
                without("dossier_id").unwrap_err(),
                ("dossier_id".to_owned(), "missing_field"),
                "{name}"
            );
        }
        if ty.needs_procedure() {
            assert_eq!(
                without("procedure_code").unwrap_err(),
                ("procedure_code".to_owned(), "missing_field"),
                "{name}"
            );
        } else {
            assert!(without("procedure_code").is_ok(), "{name}");
        }
        if ty.refuses_dossier() {
            let mut event = base.clone();
            event["dossier_id"] = "HS-1".into();
            assert_eq!(
                check(&event).unwrap_err(),
                ("dossier_id".to_owned(), "bad_value")
            );
        }
    }
    // A petition about a dossier names it; one about nothing in particular names neither.
    assert!(matches!(
        check(&example("petition.received-about-dossier")),
        Ok(EventData::PetitionReceived { .. })
    ));
    assert!(example("petition.received").get("dossier_id").is_none());
    // The earlier dossier types keep procedure_code optional.
    let mut received = example("dossier.received");
    received.as_object_mut().unwrap().remove("procedure_code");
    assert!(check(&received).is_ok());
    let typed: Vec<EventType> = types_766.map(|t| EventType::parse(t).unwrap()).to_vec();
    assert_eq!(
        typed.len() + 14,
        EventType::ALL.len(),
        "every type added for the 766 index is checked here"
    );
}

/// Optional times and booleans of the 766 types: an appointment re-set on supplement, booleans
/// that are booleans.
#[test]
fn supplement_times_and_booleans_are_typed() {
    let Ok(EventData::SupplementProvided { new_due_at }) = check(&example("supplement.provided"))
    else {
        panic!("a supplement")
    };
    assert_eq!(
        new_due_at.map(|t| t.to_rfc3339()),
        Some("2024-03-18T10:00:00+00:00".to_owned())
    );
    let mut bare = example("supplement.provided");
    bare["data"] = serde_json::json!({});
    assert_eq!(
        check(&bare),
        Ok(EventData::SupplementProvided { new_due_at: None })
    );
    bare["data"]["new_due_at"] = "2024-03-18".into();
    assert_eq!(
        check(&bare).unwrap_err(),
        ("data.new_due_at".to_owned(), "bad_timestamp")
    );
    for (name, field) in [
        ("result.issued", "electronic"),
        ("component.digitised", "reused"),
        ("procedure.catalogued", "publicised"),
        ("fee.paid", "online"),
    ] {
        let mut event = example(name);
        event["data"][field] = 1.into();
        assert_eq!(
            check(&event).unwrap_err(),
            (format!("data.{field}"), "wrong_type"),
            "{name}"
        );
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

/// The receiving point and the commune area of a dossier are optional agency codes under the
/// rule of `agency_code`, in the schema as in the validator; absent, they are the competent
/// agency's (nothing is read).
#[test]
fn receiving_point_and_area_follow_the_agency_code_rule() {
    let envelope = schema("envelope.schema.json");
    let s = schema("dossier.received.schema.json");
    let base = example("dossier.received-roles");
    for field in ["receiving_agency_code", "area_code"] {
        let prop = &s["properties"]["data"]["properties"][field];
        for key in ["type", "pattern", "minLength", "maxLength"] {
            assert_eq!(
                prop[key], envelope["properties"]["agency_code"][key],
                "{field}.{key}"
            );
        }
        assert!(!strings(&s["properties"]["data"]["required"]).contains(&field.to_owned()));
        let with = |value: Value| {
            let mut event = base.clone();
            event["data"][field] = value;
            check(&event)
        };
        let data = format!("data.{field}");
        assert!(with("H02_10-05.x".into()).is_ok(), "{field}");
        // The competent agency itself is allowed: it is what absence means.
        assert!(with(base["agency_code"].clone()).is_ok(), "{field}");
        assert!(with(Value::Null).is_ok(), "{field}: null is absent");
        for (value, fault) in [
            (Value::from(""), "bad_length"),
            ("x".repeat(65).into(), "bad_length"),
            ("000.51.03 H02".into(), "bad_value"),
            ("000.51.03.H02\u{200b}".into(), "bad_value"),
            (Value::from(51), "wrong_type"),
        ] {
            assert_eq!(with(value).unwrap_err(), (data.clone(), fault), "{field}");
        }
    }
    let Ok(EventData::DossierReceived {
        receiving_agency_code,
        area_code,
        ..
    }) = check(&base)
    else {
        panic!("a receipt")
    };
    assert_eq!(
        (receiving_agency_code.as_deref(), area_code.as_deref()),
        (Some("000.00.99.H02"), Some("000.51.03.H02"))
    );
    let Ok(EventData::DossierReceived {
        receiving_agency_code: None,
        area_code: None,
        ..
    }) = check(&example("dossier.received"))
    else {
        panic!("a receipt naming no other agency reads none")
    };
}
