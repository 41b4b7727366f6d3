//! Exports of a rendered report: the XLSX workbook read back as a zip of sheets.
