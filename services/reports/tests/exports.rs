//! Exports of a rendered report: the XLSX workbook read back from its zip — a cover sheet,
//! then one sheet per table with frozen header rows, figures as number cells with vi-VN
//! formats.

use std::io::Read as _;
use std::sync::Arc;

use parwatch_metrics::Projector;
use parwatch_reports::{Ask, Catalogue, Figures, Lang, run, xlsx};
use parwatch_scoring::Models;
use tempfile::TempDir;

use crate::common::{Events, lake, projector, quarter, write};

/// The built-in reports `ids` for the first quarter of 2024 over a lake of `quarter`'s events
/// (kept while the folder lives), and its projector.
fn first_quarter<const N: usize>(ids: [&str; N]) -> (TempDir, Arc<Projector>, [Figures; N]) {
    let (tmp, lake) = lake();
    write(&lake, quarter(&mut Events::default()));
    let projector = projector(&lake);
    let catalogue = Catalogue::builtin().unwrap();
    let ask = Ask {
        period: "2024-Q1".parse().unwrap(),
        agency: None,
    };
    let models = Models::builtin();
    let figures =
        ids.map(|id| run(catalogue.get(id).unwrap(), &ask, &projector, None, &models).unwrap());
    (tmp, projector, figures)
}

fn part(book: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn the_workbook_has_a_sheet_per_table_of_number_cells() {
    let (_tmp, _, [figures]) = first_quarter(["province"]);
    let book = xlsx(&figures, Lang::Vi, Some(("province-2024-Q1-x", figures.to))).unwrap();

    let workbook = part(&book, "xl/workbook.xml");
    let sheets: Vec<&str> = workbook
        .split("<sheet name=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(sheets.len(), 1 + figures.tables().count(), "{sheets:?}");
    assert_eq!(sheets[0], "Báo cáo");
    assert_eq!(sheets[1], "1 received_by_agency");

    let table = part(&book, "xl/worksheets/sheet2.xml");
    assert!(
        table.contains(r#"<pane xSplit="1" ySplit="3" topLeftCell="B4""#),
        "{table}"
    );
    // A's row: received 4, counter 1, online 2, postal 1, then its online share 0.5.
    for (cell, value) in [
        ("B4", "4"),
        ("C4", "1"),
        ("D4", "2"),
        ("E4", "1"),
        ("F4", "0.5"),
    ] {
        let found = table
            .split(&format!("<c r=\"{cell}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("{cell}: {table}"));
        let body = &found[..found.find("</c>").unwrap()];
        assert!(
            !body.contains("t=\"s\"") && body.ends_with(&format!("<v>{value}</v>")),
            "{cell}: {body}"
        );
    }
    let styles = part(&book, "xl/styles.xml");
    assert!(styles.contains("formatCode=\"[$-42A]#,##0\""), "{styles}");
    assert!(styles.contains("formatCode=\"[$-42A]0.0%\""), "{styles}");
    assert!(
        styles.contains("formatCode=\"[$-42A]dd/mm/yyyy\""),
        "{styles}"
    );
}

/// `pdftotext -layout` of `pdf` (poppler-utils).
fn pdftotext(pdf: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_pdf_is_an_a4_national_document_with_its_figures_in_vietnamese() {
    let (_tmp, _, [figures]) = first_quarter(["province"]);
    let catalogue = Catalogue::builtin().unwrap();
    let definition = catalogue.get("province").unwrap();
    let published = chrono::NaiveDate::from_ymd_opt(2024, 4, 10).unwrap();
    let pdf = parwatch_reports::pdf(definition, &figures, Lang::Vi, Some(published)).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("/MediaBox [0 0 595.28 841.89]"), "A4");
    assert!(raw.contains("/FontFile2 6 0 R"), "the font is embedded");

    let text = pdftotext(&pdf);
    for expected in [
        "ỦY BAN NHÂN DÂN TỈNH",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Số: ..../BC-UBND",
        "ngày 10 tháng 04 năm 2024",
        "BÁO CÁO",
        "Kỳ báo cáo: quý I năm 2024",
        "tiếp nhận 7",
        "trực tuyến 3 (42,9%)",
        "Biểu 1. Tiếp nhận hồ sơ theo hình thức và cơ quan",
        "Tổng cộng",
        "Nơi nhận:",
        "Bộ Nội vụ;",
        "TM. ỦY BAN NHÂN DÂN TỈNH",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    // A's row of table 1: received 4, counter 1, online 2, postal 1, share 50,0%.
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with(crate::common::A))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..6], ["4", "1", "2", "1", "50,0%"], "{row}");

    let english = pdftotext(&parwatch_reports::pdf(definition, &figures, Lang::En, None).unwrap());
    assert!(
        english.contains("SOCIALIST REPUBLIC OF VIETNAM") && english.contains("online (42.9%)"),
        "{english}"
    );
}

/// The quarter's province report, internal and public (`reports/public.toml`, k = 5).
#[test]
fn a_public_report_hides_small_cells_in_every_output_and_the_internal_one_shows_them() {
    let (_tmp, projector, [public, internal]) = first_quarter(["public", "province"]);
    let models = Models::builtin();
    let catalogue = Catalogue::builtin().unwrap();
    let definition = catalogue.get("public").unwrap();
    assert!(internal.disclosure.is_none());
    assert!(
        internal
            .tables()
            .all(|t| t.lines.iter().all(|l| l.suppressed.is_empty()))
    );
    let disclosure = public.disclosure.expect("a public report says so");
    assert_eq!(disclosure.min_dossiers, 5);

    // Every cell of the public tables is the internal one, or suppressed (null, listed).
    let mut hidden = 0;
    for table in public.tables() {
        let theirs = internal.tables().find(|t| t.id == table.id).unwrap();
        for line in &table.lines {
            let other = theirs.lines.iter().find(|l| l.key == line.key).unwrap();
            for (c, heading) in table.columns.iter().enumerate() {
                let d = theirs
                    .columns
                    .iter()
                    .position(|h| h.title == heading.title)
                    .unwrap();
                if line.is_suppressed(c) {
                    assert_eq!(line.cells[c], None);
                    assert!(
                        other.cells[d].is_some(),
                        "{}: the internal report shows it",
                        table.id
                    );
                    hidden += 1;
                } else {
                    assert_eq!(
                        line.cells[c], other.cells[d],
                        "{} {} {c}",
                        table.id, line.key
                    );
                    if heading.kind == parwatch_reports::Kind::Count
                        && let Some(v) = line.cells[c]
                    {
                        assert!(v == 0.0 || v >= 5.0, "{} {}: {v} shown", table.id, line.key);
                    }
                }
            }
        }
    }
    let named_hidden = public.figures.values().filter(|f| f.suppressed).count();
    assert_eq!(hidden + named_hidden, disclosure.suppressed);
    // A received 4 and B 3: both hidden, and the province's 7 with them is safe to show.
    let received = &public.tables().next().unwrap().lines;
    assert_eq!(received.last().unwrap().cells[0], Some(7.0));
    assert!(received[..2].iter().all(|l| l.is_suppressed(0)));
    assert_eq!(public.figures["received"].value, Some(7.0));
    assert!(public.figures["online"].suppressed, "online 3 of 7");
    let text = public.sections[0].text.as_ref().unwrap();
    assert!(
        text.vi
            .contains("tiếp nhận 7 hồ sơ, trong đó trực tuyến x (x)"),
        "{}",
        text.vi
    );

    // The JSON marks the columns; an internal line has no such key.
    let json = serde_json::to_value(&public).unwrap();
    let a = &json["sections"][0]["tables"][0]["lines"][0];
    assert_eq!(a["cells"][0], serde_json::Value::Null);
    assert!(
        a["suppressed"].as_array().unwrap().contains(&0.into()),
        "{a}"
    );
    let json = serde_json::to_value(&internal).unwrap();
    assert!(
        json["sections"][0]["tables"][0]["lines"][0]
            .get("suppressed")
            .is_none()
    );
    assert!(json.get("disclosure").is_none());

    // Published, it reproduces suppressed as it was: the record carries `public = true`.
    let record = parwatch_reports::Published::new(
        public.clone(),
        &definition.source,
        "test",
        chrono::Utc::now(),
    )
    .unwrap();
    let again = parwatch_reports::reproduce(&record, &projector, &models).unwrap();
    assert_eq!(again.digest(), record.digest);
    assert_eq!(again.disclosure, public.disclosure);

    // XLSX: `x` as a text cell where A's figures were, and the footnote.
    let book = xlsx(&public, Lang::Vi, None).unwrap();
    let strings = part(&book, "xl/sharedStrings.xml");
    assert!(strings.contains("<t>x</t>"), "{strings}");
    assert!(strings.contains("x: số liệu không công bố"), "{strings}");
    let sheet = part(&book, "xl/worksheets/sheet2.xml");
    let a4 = sheet.split("<c r=\"B4\"").nth(1).unwrap();
    assert!(a4[..a4.find("</c>").unwrap()].contains("t=\"s\""), "{a4}");
    let internal_book = xlsx(&internal, Lang::Vi, None).unwrap();
    assert!(!part(&internal_book, "xl/sharedStrings.xml").contains("<t>x</t>"));

    // PDF: A's row is all `x`, the province's 7 stays, the footnote explains.
    let text = pdftotext(&parwatch_reports::pdf(definition, &public, Lang::Vi, None).unwrap());
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with(crate::common::A))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..6], ["x", "x", "x", "x", "x"], "{row}");
    assert!(text.contains("x: số liệu không công bố"), "{text}");
    let internal_pdf = parwatch_reports::pdf(
        catalogue.get("province").unwrap(),
        &internal,
        Lang::Vi,
        None,
    )
    .unwrap();
    assert!(!pdftotext(&internal_pdf).contains("không công bố"));
}
