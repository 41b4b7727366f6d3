//! Scoring model files: the repository's load and match the built-in ones; broken files are
//! refused with a message naming the file and what does not add up.

use std::path::{Path, PathBuf};

use parwatch_proto::{AgencyKind, Assessor};
use parwatch_scoring::{Models, Rule};

fn repository_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/par-model")
}

/// A model directory holding the repository's department rubric of 2022 with `edit` applied.
fn edited(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("department");
    std::fs::create_dir(&dir).unwrap();
    let text = std::fs::read_to_string(repository_models().join("department/2022.toml")).unwrap();
    std::fs::write(dir.join("2022.toml"), edit(&text)).unwrap();
    let root = tmp.path().to_path_buf();
    (tmp, root)
}

fn load_error(dir: &Path) -> String {
    Models::load(dir).unwrap_err().to_string()
}

#[test]
fn the_repository_models_are_the_built_in_ones() {
    let loaded = Models::load(&repository_models()).unwrap();
    assert_eq!(
        loaded,
        Models::builtin(),
        "every file of deploy/par-model is built in"
    );
    // Departments in 2022: the nine components of seed 003 and their maxima, summing to 100.
    let rubric = loaded.rubric(AgencyKind::Department, 2022).unwrap();
    let maxima: Vec<(&str, f64)> = rubric
        .components
        .iter()
        .map(|c| (c.code.as_str(), c.max))
        .collect();
    assert_eq!(
        maxima,
        vec![
            ("direction", 13.5),
            ("institutions", 6.5),
            ("procedures", 5.0),
            ("organisation", 6.5),
            ("civil_service", 8.0),
            ("public_finance", 8.5),
            ("e_government", 10.0),
            ("one_stop", 7.0),
            ("survey", 35.0),
        ]
    );
    assert_eq!(rubric.total, 100.0);
    let tasks = rubric
        .criteria()
        .find(|(_, k)| k.code == "superior_tasks")
        .unwrap()
        .1;
    assert_eq!(tasks.max, 2.0);
    let derivation = tasks.derived.as_ref().unwrap();
    assert_eq!(
        (derivation.metric.as_str(), &derivation.rule),
        ("tasks_on_time", &Rule::Ratio)
    );
    assert!(
        rubric
            .criteria()
            .filter(|(c, _)| c.code == "survey")
            .all(|(_, k)| k.assessed_by == Assessor::Survey)
    );
    assert_eq!(
        rubric.metrics().into_iter().collect::<Vec<_>>(),
        vec![
            "apology_rate",
            "digitized_share",
            "full_online_share",
            "on_time_rate",
            "online_uptake",
            "plan_completion",
            "postal_share",
            "tasks_on_time"
        ]
    );
}

#[test]
fn every_name_is_in_vietnamese_and_english() {
    let models = Models::builtin();
    let mut names = 0;
    for rubric in models.rubrics() {
        let components = rubric
            .components
            .iter()
            .map(|c| (&c.code, &c.name, &c.name_en));
        let criteria = rubric
            .criteria()
            .map(|(_, k)| (&k.code, &k.name, &k.name_en));
        for (code, vi, en) in components.chain(criteria) {
            let en = en.as_deref().unwrap_or_else(|| {
                panic!(
                    "{}/{}: {code} has no name_en",
                    rubric.kind, rubric.from_year
                )
            });
            assert!(!vi.is_empty() && en != vi, "{code}: {vi:?} / {en:?}");
            // English names are plain: none of Vietnamese's letters outside ASCII.
            assert!(en.is_ascii(), "{code}: {en:?} is not English");
            names += 1;
        }
    }
    assert_eq!(
        names, 102,
        "every component and criterion of the three rubrics"
    );
    // The English name is optional in a file: without it the Vietnamese one is shown.
    let (_tmp, dir) = edited(|t| {
        t.replacen(
            "name_en = \"Annual PAR plan issued on time and complete\"\n",
            "",
            1,
        )
    });
    let models = Models::load(&dir).unwrap();
    let rubric = models.rubric(AgencyKind::Department, 2022).unwrap();
    let plan = rubric
        .criteria()
        .find(|(_, k)| k.code == "plan_issued")
        .unwrap()
        .1;
    assert_eq!(
        (plan.name.as_str(), plan.name_en.as_deref()),
        ("Ban hành kế hoạch CCHC năm kịp thời, đầy đủ", None)
    );
    // But never blank.
    let (_tmp, dir) = edited(|t| {
        t.replacen(
            "name_en = \"Annual PAR plan issued on time and complete\"",
            "name_en = \" \"",
            1,
        )
    });
    let err = load_error(&dir);
    assert!(
        err.contains("direction.plan_issued: name_en is blank"),
        "{err}"
    );
}

#[test]
fn maxima_must_add_up() {
    let (_tmp, dir) = edited(|t| t.replacen("max = 13.5", "max = 14", 1));
    let err = load_error(&dir);
    assert!(
        err.contains("department/2022.toml")
            && err.contains(
                "direction: the criteria's maxima add up to 13.5, not the component's 14"
            ),
        "{err}"
    );
    let (_tmp, dir) = edited(|t| t.replacen("total = 100", "total = 99", 1));
    let err = load_error(&dir);
    assert!(
        err.contains("the components' maxima add up to 100, not the total 99"),
        "{err}"
    );
}

/// An edit of a rubric file's text.
type Edit<'a> = &'a dyn Fn(&str) -> String;

#[test]
fn mistakes_are_named() {
    let cases: [(Edit<'_>, &str); 5] = [
        (
            &|t| t.replacen("max = 1\n", "maximum = 1\n", 1),
            "unknown field `maximum`",
        ),
        (
            &|t| t.replacen("rule = \"ratio\"", "rule = \"linear\"", 1),
            "direction.superior_tasks: unknown rule \"linear\"",
        ),
        (
            &|t| t.replacen("target = 0.5", "target = 50", 1),
            "e_government.online_uptake: target must be within (0, 1] (got 50)",
        ),
        (
            &|t| t.replacen("[[1.0, 1.0], [0.8, 0.5]]", "[[0.8, 0.5], [1.0, 1.0]]", 1),
            "direction.plan_completion: steps must be",
        ),
        (
            &|t| t.replacen("assessed_by = \"survey\"", "assessed_by = \"self\"", 1),
            "survey.citizen_satisfaction: assessed_by must be appraisal, inspection or survey",
        ),
    ];
    for (edit, expected) in cases {
        let (_tmp, dir) = edited(edit);
        let err = load_error(&dir);
        assert!(err.contains(expected), "{expected:?} in {err}");
    }

    let tmp = tempfile::tempdir().unwrap();
    assert!(load_error(tmp.path()).contains("no rubric found"));
    std::fs::create_dir(tmp.path().join("ministry")).unwrap();
    std::fs::write(tmp.path().join("ministry/2022.toml"), "total = 1").unwrap();
    assert!(load_error(tmp.path()).contains("unknown kind of agency \"ministry\""));
    std::fs::remove_dir_all(tmp.path().join("ministry")).unwrap();
    std::fs::create_dir(tmp.path().join("district")).unwrap();
    std::fs::write(tmp.path().join("district/latest.toml"), "total = 1").unwrap();
    assert!(load_error(tmp.path()).contains("\"latest\" is not a year"));
    std::fs::remove_dir_all(tmp.path().join("district")).unwrap();
    std::fs::write(tmp.path().join("2022.toml"), "total = 1").unwrap();
    assert!(load_error(tmp.path()).contains("<kind>/<year>.toml"));
    let missing = tmp.path().join("nowhere");
    assert!(load_error(&missing).contains("nowhere"));
}

#[test]
fn derived_criteria_must_name_known_metrics() {
    let models = Models::builtin();
    let known = ["tasks_on_time", "plan_completion"];
    let err = models
        .check_metrics(|m| known.contains(&m))
        .unwrap_err()
        .to_string();
    assert!(err.contains("derived from unknown metric"), "{err}");
    assert!(models.check_metrics(|_| true).is_ok());
}

#[test]
fn a_later_file_takes_over_from_its_year() {
    let (_tmp, dir) = edited(|t| t.to_owned());
    let text = std::fs::read_to_string(dir.join("department/2022.toml")).unwrap();
    // From 2025 the survey is worth 30 points and e-government 15.
    let changed = text
        .replacen("max = 10\n", "max = 15\n", 1)
        .replacen(
            "name_en = \"Electronic documents and digital signatures\"\nmax = 2",
            "name_en = \"Electronic documents and digital signatures\"\nmax = 7",
            1,
        )
        .replacen("max = 35\n", "max = 30\n", 1)
        .replacen("max = 20\nassessed_by", "max = 15\nassessed_by", 1);
    std::fs::write(dir.join("department/2025.toml"), changed).unwrap();
    let models = Models::load(&dir).unwrap();
    let e_government = |year| {
        models
            .rubric(AgencyKind::Department, year)
            .unwrap()
            .components
            .iter()
            .find(|c| c.code == "e_government")
            .unwrap()
            .max
    };
    assert_eq!(
        (
            e_government(2022),
            e_government(2024),
            e_government(2025),
            e_government(2030)
        ),
        (10.0, 10.0, 15.0, 15.0)
    );
}
