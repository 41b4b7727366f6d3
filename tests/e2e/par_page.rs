//! The PAR Index pages in a real browser, over a year and a half simulated by `parwatch
//! simulate` (2023 appraised in December, 2024 still open): the table shows the API's index and
//! projection of each agency in Vietnamese format, filtered by kind; a row opens the agency's
//! breakdown with its weakest criterion (most points lost per the API) first and its trend;
//! the agency page links to it; the view switch restates the table (the API's restated rows,
//! links keeping the view); a token scoped to one agency sees one row.

use serde_json::{Value, json};

use crate::harness::browser::{Browser, Province, vi_number};
use crate::harness::{Parwatch, create_token, get_json};

const YEAR: i64 = 2024;

/// Points as the page writes a criterion's: vi-VN, up to three decimals (1,7; 2; 0,125).
fn vi_points(value: f64) -> String {
    let text = vi_number(value, 3);
    let text = text.trim_end_matches('0');
    text.trim_end_matches(',').to_owned()
}

/// Rows of the table shown (`tbody tr` of `css`).
async fn rows(b: &Browser, css: &str) -> usize {
    let count = b
        .client
        .execute(
            &format!("return document.querySelectorAll('{css} tbody tr').length"),
            vec![],
        )
        .await
        .unwrap();
    count.as_u64().unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn par_index_pages_in_a_real_browser() {
    let province = Province::simulated().await;
    let (base, data) = (province.parwatch.base().to_owned(), &province.data);

    let (status, index) = get_json(&format!("{base}/api/v1/par-index?year={YEAR}")).await;
    assert_eq!(status, 200, "{index}");
    let agencies = index["agencies"].as_array().unwrap();
    let kind = agencies[0]["kind"].as_str().unwrap().to_owned();
    let of_kind: Vec<&Value> = agencies.iter().filter(|a| a["kind"] == kind).collect();
    let other_kind = agencies.iter().find(|a| a["kind"] != kind).map(|a| {
        let k = a["kind"].as_str().unwrap();
        (k, agencies.iter().filter(|x| x["kind"] == k).count())
    });
    // Mid-2024 nobody is appraised: the ranking is a projection.
    let agency = of_kind
        .iter()
        .find(|a| a["complete"] == json!(false))
        .expect("an agency with criteria still missing in June");
    let code = agency["agency_code"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    let b = &browser;
    b.open(&format!("{base}/#/par?year={YEAR}"), "par").await;
    assert_eq!(rows(b, "table.par-index").await, of_kind.len());
    assert_eq!(b.text("table.par-index th").await, "Hạng (dự kiến)");
    let row = format!("table.par-index tr[data-agency='{code}']");
    assert_eq!(
        b.text(&format!("{row} td.index")).await,
        vi_number(agency["index"].as_f64().unwrap(), 3)
    );
    assert_eq!(
        b.text(&format!("{row} td.projected")).await,
        vi_number(agency["projected"].as_f64().unwrap(), 3)
    );
    let rank = b.text(&format!("{row} td.rank strong")).await;
    assert_eq!(rank, agency["projected_rank"].to_string());
    let bars = b
        .client
        .execute(
            &format!("return document.querySelectorAll(\"{row} .par-bar\").length"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bars, json!(agency["components"].as_array().unwrap().len()));
    b.screenshot("par").await;

    // The other kind of agency, by its filter button.
    if let Some((other, count)) = other_kind {
        b.click(&format!("button[data-kind={other}]")).await;
        b.ready("par (other kind)").await;
        let shown = b
            .wait_for(
                "other kind",
                &format!(
                    "return document.querySelector('button[data-kind={other}].active') \
                     && document.querySelectorAll('table.par-index tbody tr').length"
                ),
            )
            .await;
        assert_eq!(shown, json!(count));
        b.click(&format!("button[data-kind={kind}]")).await;
        b.ready("par (back)").await;
    }

    // The view switch: restated to today's units, the table is the API's restated index and
    // its rows open the agency in the same view; then back to as recorded.
    b.click(".units-switch button[name=restated]").await;
    b.ready("par (restated)").await;
    let address = b
        .wait_for(
            "restated address",
            "return location.hash.includes('units=restated')              && document.querySelector('.units-switch button[name=restated][aria-pressed=true]')              && document.querySelector('table.par-index') && location.hash",
        )
        .await;
    let address = address.as_str().unwrap().to_owned();
    let units_date = address.split("units_date=").nth(1).unwrap()[..10].to_owned();
    let (status, restated) = get_json(&format!(
        "{base}/api/v1/par-index?year={YEAR}&units=restated&units_date={units_date}"
    ))
    .await;
    assert_eq!(status, 200, "{restated}");
    assert_eq!(restated["units"]["view"], "restated");
    let restated_of_kind = restated["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .count();
    assert_eq!(rows(b, "table.par-index").await, restated_of_kind);
    let link = b
        .on(&format!("{row} a"), |e| async move { e.attr("href").await })
        .await
        .unwrap();
    assert!(link.contains("units=restated"), "{link}");
    b.click(".units-switch button[name=as_recorded]").await;
    b.ready("par (as recorded)").await;
    b.wait_for(
        "as recorded again",
        "return !location.hash.includes('units=restated')          && document.querySelector('.units-switch button[name=as_recorded][aria-pressed=true]') !== null",
    )
    .await;
    assert!(b.console_errors().await.is_empty());

    // The drill-down: components, criteria weakest first, trend.
    b.wait_for(
        "agency row",
        &format!("return document.querySelector(\"{row}\") !== null"),
    )
    .await;
    b.click(&row).await;
    let hash = b
        .wait_for(
            "drill-down",
            "return location.hash.startsWith('#/par/') && location.hash",
        )
        .await;
    assert_eq!(hash, json!(format!("#/par/{code}?year={YEAR}")));
    b.ready("par agency").await;
    b.wait_for(
        "criteria",
        "return document.querySelector('table.par-criteria') !== null",
    )
    .await;
    assert!(b.text("h1").await.contains(&code));
    let (_, mine) = get_json(&format!(
        "{base}/api/v1/par-index?year={YEAR}&agency={code}"
    ))
    .await;
    let mine = &mine["agencies"][0];
    assert_eq!(
        rows(b, "table.par-components").await,
        mine["components"].as_array().unwrap().len()
    );
    let criteria = mine["criteria"].as_array().unwrap();
    let most_lost = criteria
        .iter()
        .filter_map(|k| k["lost"].as_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    let first = b
        .text("table.par-criteria tbody tr:first-child td.lost")
        .await;
    assert_eq!(first, vi_points(most_lost));
    let first_code = b
        .client
        .execute(
            "return document.querySelector('table.par-criteria tbody tr').dataset.criterion",
            vec![],
        )
        .await
        .unwrap();
    let weakest = criteria
        .iter()
        .find(|k| {
            format!(
                "{}.{}",
                k["component"].as_str().unwrap(),
                k["code"].as_str().unwrap()
            ) == first_code.as_str().unwrap()
        })
        .unwrap();
    assert_eq!(weakest["lost"].as_f64(), Some(most_lost), "{weakest}");
    assert_eq!(rows(b, "table.par-criteria").await, criteria.len());
    // A derived criterion shows its rule as the seed writes it: "34/40 = 1,7/2".
    let derived = criteria
        .iter()
        .find(|k| k["status"] == "derived")
        .expect("a criterion derived from tasks or plans by June");
    let d = &derived["derived"];
    let text = b
        .text(&format!(
            "tr[data-criterion='{}.{}'] td:last-child",
            derived["component"].as_str().unwrap(),
            derived["code"].as_str().unwrap()
        ))
        .await;
    let rule = format!(
        "{}/{} = {}/{}",
        vi_number(d["numerator"].as_f64().unwrap(), 0),
        vi_number(d["denominator"].as_f64().unwrap(), 0),
        vi_points(d["points"].as_f64().unwrap()),
        vi_points(derived["max"].as_f64().unwrap())
    );
    assert!(text.contains(&rule), "{text} vs {rule}");
    let (_, history) = get_json(&format!("{base}/api/v1/par-index/history?agency={code}")).await;
    let indexed: Vec<i64> = history["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["year"].as_i64().unwrap())
        .collect();
    assert!(
        indexed.contains(&2023) && indexed.contains(&YEAR),
        "{indexed:?}"
    );
    let years = indexed.len();
    let buckets = b
        .wait_for(
            "trend",
            "return document.querySelector('[data-panel=par-trend-index] svg')?.dataset.buckets",
        )
        .await;
    assert_eq!(buckets, json!(years.to_string()));
    assert!(b.console_errors().await.is_empty());
    b.screenshot("par-agency").await;

    // The agency's own page links here.
    b.open(&format!("{base}/#/agency/{code}"), "agency").await;
    let link = b
        .on("a.par-link", |e| async move { e.attr("href").await })
        .await;
    assert_eq!(link, Some(format!("#/par/{code}")));

    // A viewer scoped to the agency: one row, its own.
    let token = create_token(data, "viewer", Some(&code));
    let scoped = Parwatch::serve(data).await;
    let scoped_base = scoped.base();
    b.client.goto(&format!("{scoped_base}/")).await.unwrap();
    b.client
        .execute(
            "localStorage.setItem('parwatch.token', arguments[0])",
            vec![json!(token)],
        )
        .await
        .unwrap();
    // The 401s of the first load, before the token was saved.
    b.console_errors().await;
    b.open(
        &format!("{scoped_base}/?scoped#/par?year={YEAR}"),
        "par (scoped)",
    )
    .await;
    b.wait_for(
        "scoped table",
        "return document.querySelector('table.par-index') !== null",
    )
    .await;
    assert_eq!(rows(b, "table.par-index").await, 1);
    assert!(
        b.text("table.par-index tbody tr").await.contains(&code),
        "its own agency"
    );
    assert!(b.console_errors().await.is_empty());
}
