//! The XLSX export: a cover sheet (title, period, lake version, texts, named figures), then one
//! sheet per table, every figure a real number cell with a vi-VN number format (Excel renders
//! `[$-42A]` formats with Vietnamese separators: `1.234`, `97,3%`), dates as date cells, the
//! header row and the row-key column frozen.

use chrono::{Datelike as _, NaiveDate};
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use crate::definition::{Kind, Text};
use crate::render::{Figures, Lang, SUPPRESSED};
use crate::{Error, Result};

/// The number format of a kind of figure, Vietnamese locale.
fn number_format(kind: Kind) -> &'static str {
    match kind {
        Kind::Count | Kind::Rank => "[$-42A]#,##0",
        Kind::Change => "[$-42A]+#,##0;-#,##0;0",
        Kind::Ratio => "[$-42A]0.0%",
        Kind::Days => "[$-42A]#,##0.0",
        Kind::Points => "[$-42A]#,##0.00",
    }
}

const DATE_FORMAT: &str = "[$-42A]dd/mm/yyyy";

fn pick(text: &Text, lang: Lang) -> &str {
    match lang {
        Lang::Vi => &text.vi,
        Lang::En => &text.en,
    }
}

fn date_cell(date: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(date.year() as u16, date.month() as u8, date.day() as u8)
}

/// A sheet name: at most 31 characters, none of `[]:*?/\`, unique in the workbook.
fn sheet_name(index: usize, id: &str) -> String {
    let clean: String = id.chars().filter(|c| !"[]:*?/\\".contains(*c)).collect();
    let mut name = format!("{index} {clean}");
    name.truncate(31);
    name
}

/// The workbook of `figures` in `lang`, published at `published` (a preview: `None`).
pub fn xlsx(
    figures: &Figures,
    lang: Lang,
    published: Option<(&str, NaiveDate)>,
) -> Result<Vec<u8>> {
    write(figures, lang, published).map_err(|e| Error::Export(e.to_string()))
}

fn write(
    figures: &Figures,
    lang: Lang,
    published: Option<(&str, NaiveDate)>,
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_border(rust_xlsxwriter::FormatBorder::Thin);
    let date = Format::new()
        .set_num_format(DATE_FORMAT)
        .set_align(FormatAlign::Left);
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let hidden = Format::new().set_align(FormatAlign::Right);
    let note = Format::new().set_italic().set_font_size(9);
    let footnote = figures
        .disclosure
        .filter(|d| d.suppressed > 0)
        .map(|d| d.footnote(lang));
    let (cover_name, labels) = match lang {
        Lang::Vi => (
            "Báo cáo",
            [
                "Kỳ báo cáo",
                "Từ ngày",
                "Đến ngày",
                "Cơ quan",
                "Phiên bản dữ liệu",
                "Mã báo cáo đã ban hành",
                "Ngày ban hành",
                "Số liệu",
                "Giá trị",
            ],
        ),
        Lang::En => (
            "Report",
            [
                "Period",
                "From",
                "To",
                "Agency",
                "Lake version",
                "Published report",
                "Published on",
                "Figure",
                "Value",
            ],
        ),
    };

    let cover: &mut Worksheet = book.add_worksheet().set_name(cover_name)?;
    cover.set_column_width(0, 28)?;
    cover.set_column_width(1, 60)?;
    cover.write_string_with_format(0, 0, pick(&figures.title, lang), &title)?;
    let (vi, en) = figures.ask.period.label();
    let mut row = 2;
    cover.write_string_with_format(row, 0, labels[0], &bold)?;
    cover.write_string(row, 1, if lang == Lang::Vi { vi } else { en })?;
    row += 1;
    cover.write_string_with_format(row, 0, labels[1], &bold)?;
    cover.write_datetime_with_format(row, 1, date_cell(figures.from)?, &date)?;
    row += 1;
    cover.write_string_with_format(row, 0, labels[2], &bold)?;
    cover.write_datetime_with_format(row, 1, date_cell(figures.to)?, &date)?;
    row += 1;
    if let Some(agency) = &figures.ask.agency {
        cover.write_string_with_format(row, 0, labels[3], &bold)?;
        cover.write_string(row, 1, agency)?;
        row += 1;
    }
    cover.write_string_with_format(row, 0, labels[4], &bold)?;
    cover.write_number(row, 1, figures.lake_version as f64)?;
    row += 1;
    if let Some((id, on)) = published {
        cover.write_string_with_format(row, 0, labels[5], &bold)?;
        cover.write_string(row, 1, id)?;
        row += 1;
        cover.write_string_with_format(row, 0, labels[6], &bold)?;
        cover.write_datetime_with_format(row, 1, date_cell(on)?, &date)?;
        row += 1;
    }
    row += 1;
    for section in &figures.sections {
        cover.write_string_with_format(row, 0, pick(&section.title, lang), &bold)?;
        row += 1;
        if let Some(text) = &section.text {
            cover.merge_range(row, 0, row, 1, pick(text, lang), &wrap)?;
            cover.set_row_height(
                row,
                15.0 * (pick(text, lang).chars().count() / 90 + 1) as f64,
            )?;
            row += 1;
        }
        row += 1;
    }
    cover.write_string_with_format(row, 0, labels[7], &header)?;
    cover.write_string_with_format(row, 1, labels[8], &header)?;
    row += 1;
    for (name, figure) in &figures.figures {
        cover.write_string(row, 0, name)?;
        if figure.suppressed {
            cover.write_string_with_format(row, 1, SUPPRESSED, &hidden)?;
        } else {
            write_value(cover, row, 1, figure.value, figure.kind)?;
        }
        row += 1;
    }
    if let Some(text) = &footnote {
        cover.write_string_with_format(row + 1, 0, text, &note)?;
    }

    for (i, table) in figures.tables().enumerate() {
        let sheet = book
            .add_worksheet()
            .set_name(sheet_name(i + 1, &table.id))?;
        sheet.write_string_with_format(0, 0, pick(&table.title, lang), &title)?;
        let key = match (table.rows, lang) {
            (crate::Rows::Month, Lang::Vi) => "Tháng",
            (crate::Rows::Month, Lang::En) => "Month",
            (_, Lang::Vi) => "Cơ quan",
            (_, Lang::En) => "Agency",
        };
        let top = 2;
        sheet.write_string_with_format(top, 0, key, &header)?;
        sheet.set_column_width(0, 18)?;
        for (c, heading) in table.columns.iter().enumerate() {
            let col = c as u16 + 1;
            sheet.write_string_with_format(top, col, pick(&heading.title, lang), &header)?;
            sheet.set_column_width(col, 16)?;
        }
        sheet.set_row_height(top, 45)?;
        sheet.set_freeze_panes(top + 1, 1)?;
        for (r, line) in table.lines.iter().enumerate() {
            let row = top + 1 + r as u32;
            let label = match (line.key.as_str(), lang) {
                ("total", Lang::Vi) => "Tổng cộng",
                ("total", Lang::En) => "Total",
                (key, _) => key,
            };
            sheet.write_string(row, 0, label)?;
            for (c, cell) in line.cells.iter().enumerate() {
                let col = c as u16 + 1;
                if line.is_suppressed(c) {
                    // A text cell, so no sum over the column takes it for a number.
                    sheet.write_string_with_format(row, col, SUPPRESSED, &hidden)?;
                    continue;
                }
                let kind = table.columns.get(c).map_or(Kind::Count, |h| h.kind);
                write_value(sheet, row, col, *cell, kind)?;
            }
        }
        if let Some(text) = &footnote
            && table.lines.iter().any(|l| !l.suppressed.is_empty())
        {
            let below = top + 2 + table.lines.len() as u32;
            sheet.write_string_with_format(below, 0, text, &note)?;
        }
    }
    book.save_to_buffer()
}

/// A figure as a number cell with its format; an empty cell where there is nothing to measure.
fn write_value(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    value: Option<f64>,
    kind: Kind,
) -> Result<(), XlsxError> {
    if let Some(v) = value {
        let format = Format::new().set_num_format(number_format(kind));
        sheet.write_number_with_format(row, col, v, &format)?;
    }
    Ok(())
}
