//! The PDF export: A4, the national administrative document layout (Decree 30/2020/NĐ-CP:
//! issuing body and number on the left, Quốc hiệu and tiêu ngữ on the right, the place and
//! date line, the title, the body, Nơi nhận and the signature block), written directly as
//! PDF objects. Text is set in a TrueType font read from the system (DejaVu Sans, Debian's
//! `fonts-dejavu-core`), embedded whole as a CID font with a ToUnicode map, so Vietnamese
//! diacritics render everywhere and text extraction (`pdftotext`) returns the words. No
//! layout engine: lines are measured with the font's advances and wrapped at spaces.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{Datelike as _, NaiveDate};
use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::definition::{Definition, Text};
use crate::render::{Figures, Lang, SUPPRESSED, format_value};
use crate::{Error, Result};

/// Fonts tried in order: Debian's DejaVu Sans, then Liberation Sans (both cover Vietnamese).
pub const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

const PAGE: (f64, f64) = (595.28, 841.89);
/// Margins in points: top 2 cm, bottom 2 cm, left 3 cm, right 1.5 cm.
const TOP: f64 = 57.0;
const BOTTOM: f64 = 57.0;
const LEFT: f64 = 85.0;
const RIGHT: f64 = 42.5;
const WIDTH: f64 = PAGE.0 - LEFT - RIGHT;

/// A font's metrics, and the glyphs a document used.
struct Font {
    bytes: Vec<u8>,
    units: f64,
    ascent: f64,
    descent: f64,
    bbox: [f64; 4],
    /// Per character: glyph id and advance (font units).
    glyphs: BTreeMap<char, (u16, f64)>,
    used: BTreeMap<u16, (char, f64)>,
}

impl Font {
    fn load() -> Result<Self> {
        let (path, bytes) = FONTS
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(|b| (*p, b)))
            .ok_or_else(|| {
                Error::Export(format!(
                    "no font for the PDF: install fonts-dejavu-core ({})",
                    FONTS.join(" or ")
                ))
            })?;
        let face = ttf_parser::Face::parse(&bytes, 0)
            .map_err(|e| Error::Export(format!("{path}: {e}")))?;
        let b = face.global_bounding_box();
        let font = Self {
            units: f64::from(face.units_per_em()),
            ascent: f64::from(face.ascender()),
            descent: f64::from(face.descender()),
            bbox: [b.x_min, b.y_min, b.x_max, b.y_max].map(f64::from),
            glyphs: BTreeMap::new(),
            used: BTreeMap::new(),
            bytes: Vec::new(),
        };
        Ok(Self { bytes, ..font })
    }

    /// Glyph id and advance of `c` (the font's missing glyph, 0, when it has none).
    fn glyph(&mut self, c: char) -> (u16, f64) {
        if let Some(g) = self.glyphs.get(&c) {
            return *g;
        }
        let face = ttf_parser::Face::parse(&self.bytes, 0).expect("parsed at load");
        let id = face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        let advance = f64::from(face.glyph_hor_advance(id).unwrap_or(0));
        self.glyphs.insert(c, (id.0, advance));
        (id.0, advance)
    }

    /// Width of `text` at `size` points.
    fn width(&mut self, text: &str, size: f64) -> f64 {
        text.chars().map(|c| self.glyph(c).1).sum::<f64>() * size / self.units
    }

    /// `text` as a hex string of glyph ids, noting each glyph used.
    fn encode(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() * 4 + 2);
        out.push('<');
        for c in text.chars() {
            let (id, advance) = self.glyph(c);
            self.used.entry(id).or_insert((c, advance));
            let _ = write!(out, "{id:04X}");
        }
        out.push('>');
        out
    }

    /// Words of `text` in lines at most `width` wide at `size`.
    fn wrap(&mut self, text: &str, size: f64, width: f64) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && self.width(&candidate, size) > width {
                lines.push(std::mem::replace(&mut line, word.to_owned()));
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }
}

/// Horizontal placement of a line of text.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

/// Pages being laid out, top to bottom.
struct Layout {
    font: Font,
    pages: Vec<String>,
    y: f64,
}

impl Layout {
    fn page(&mut self) -> &mut String {
        self.pages.last_mut().expect("a page")
    }

    fn new_page(&mut self) {
        self.pages.push(String::new());
        self.y = PAGE.1 - TOP;
    }

    /// Room for `height` more points on this page, or a new page.
    fn room(&mut self, height: f64) {
        if self.y - height < BOTTOM {
            self.new_page();
        }
    }

    /// One line of text at `y` within `[x, x + width]`.
    #[allow(clippy::too_many_arguments)]
    fn text_at(
        &mut self,
        text: &str,
        x: f64,
        width: f64,
        y: f64,
        size: f64,
        bold: bool,
        align: Align,
    ) {
        let w = self.font.width(text, size);
        let x = match align {
            Align::Left => x,
            Align::Center => x + (width - w) / 2.0,
            Align::Right => x + width - w,
        };
        let encoded = self.font.encode(text);
        // Bold as the fill stroked too: one embedded font.
        let (mode, stroke) = if bold { (2, 0.35) } else { (0, 0.0) };
        let _ = writeln!(
            self.page(),
            "BT /F1 {size:.2} Tf {mode} Tr {stroke:.2} w {x:.2} {y:.2} Td {encoded} Tj ET"
        );
    }

    /// A paragraph wrapped to `[x, x + width]` from the cursor down.
    #[allow(clippy::too_many_arguments)]
    fn paragraph(&mut self, text: &str, x: f64, width: f64, size: f64, bold: bool, align: Align) {
        let leading = size * 1.35;
        for line in self.font.wrap(text, size, width) {
            self.room(leading);
            self.y -= leading;
            self.text_at(&line, x, width, self.y + size * 0.25, size, bold, align);
        }
    }

    /// A table: a heading row repeated on every page, cells right-aligned but the first.
    fn table(&mut self, headings: &[String], rows: &[Vec<String>]) {
        let size = 7.5;
        let leading = size * 1.3;
        let key_width = 70.0;
        let n = headings.len().saturating_sub(1).max(1) as f64;
        let widths: Vec<f64> = std::iter::once(key_width)
            .chain(std::iter::repeat_n(
                (WIDTH - key_width) / n,
                headings.len().saturating_sub(1),
            ))
            .collect();
        let draw = |layout: &mut Self, cells: &[String], bold: bool| {
            let wrapped: Vec<Vec<String>> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| layout.font.wrap(c, size, w - 4.0))
                .collect();
            let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1) as f64;
            let height = lines * leading + 3.0;
            let top = layout.y;
            let mut x = LEFT;
            for (i, (cell, w)) in wrapped.iter().zip(&widths).enumerate() {
                let align = match (bold, i) {
                    (true, _) => Align::Center,
                    (false, 0) => Align::Left,
                    (false, _) => Align::Right,
                };
                for (l, line) in cell.iter().enumerate() {
                    let y = top - (l as f64 + 1.0) * leading + 1.0;
                    layout.text_at(line, x + 2.0, w - 4.0, y, size, bold, align);
                }
                let _ = writeln!(
                    layout.page(),
                    "0.5 w {x:.2} {:.2} {w:.2} {height:.2} re S",
                    top - height
                );
                x += w;
            }
            layout.y -= height;
            height
        };
        let header_height = {
            let wrapped: usize = headings
                .iter()
                .zip(&widths)
                .map(|(c, w)| self.font.wrap(c, size, w - 4.0).len())
                .max()
                .unwrap_or(1);
            wrapped as f64 * leading + 3.0
        };
        self.room(header_height + leading * 2.0);
        draw(self, headings, true);
        for row in rows {
            if self.y - (leading * 2.0 + 3.0) < BOTTOM {
                self.new_page();
                draw(self, headings, true);
            }
            draw(self, row, false);
        }
        self.y -= 6.0;
    }
}

fn pick(text: &Text, lang: Lang) -> &str {
    match lang {
        Lang::Vi => &text.vi,
        Lang::En => &text.en,
    }
}

/// The PDF of `figures` in `lang`, laid out by `definition` (issuer, symbol, recipients);
/// `published` dates it (a preview is dated the period's end).
pub fn pdf(
    definition: &Definition,
    figures: &Figures,
    lang: Lang,
    published: Option<NaiveDate>,
) -> Result<Vec<u8>> {
    let mut layout = Layout {
        font: Font::load()?,
        pages: Vec::new(),
        y: 0.0,
    };
    layout.new_page();
    let half = WIDTH / 2.0;
    let (left, right) = (LEFT - 20.0, LEFT + half - 25.0);
    let top = layout.y;
    let date = published.unwrap_or(figures.to);
    let (nation, motto, number, date_line, title_word) = match lang {
        Lang::Vi => (
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            format!("Số: ..../{}", definition.symbol),
            format!(
                "......, ngày {:02} tháng {:02} năm {}",
                date.day(),
                date.month(),
                date.year()
            ),
            "BÁO CÁO",
        ),
        Lang::En => (
            "SOCIALIST REPUBLIC OF VIETNAM",
            "Independence - Freedom - Happiness",
            format!("No.: ..../{}", definition.symbol),
            format!("......, {}", date.format("%d %B %Y")),
            "REPORT",
        ),
    };
    // Left column: the issuing body and the number; right: Quốc hiệu, tiêu ngữ, date line.
    layout.paragraph(
        pick(&definition.issuer, lang),
        left,
        half,
        11.0,
        true,
        Align::Center,
    );
    layout.paragraph(&number, left, half, 11.0, false, Align::Center);
    layout.y = top;
    layout.paragraph(nation, right, half + 45.0, 11.0, true, Align::Center);
    layout.paragraph(motto, right, half + 45.0, 12.0, true, Align::Center);
    // The rule under the motto.
    let rule = layout.y - 1.0;
    let (from, to) = (right + half / 2.0 - 40.0, right + half / 2.0 + 85.0);
    let _ = writeln!(
        layout.page(),
        "0.5 w {from:.2} {rule:.2} m {to:.2} {rule:.2} l S"
    );
    layout.y -= 6.0;
    layout.paragraph(&date_line, right, half + 45.0, 11.0, false, Align::Center);
    layout.y -= 14.0;
    layout.paragraph(title_word, LEFT, WIDTH, 13.0, true, Align::Center);
    layout.paragraph(
        pick(&figures.title, lang),
        LEFT,
        WIDTH,
        13.0,
        true,
        Align::Center,
    );
    let (vi, en) = figures.ask.period.label();
    let period = match lang {
        Lang::Vi => format!("Kỳ báo cáo: {vi}"),
        Lang::En => format!("Period: {en}"),
    };
    layout.paragraph(&period, LEFT, WIDTH, 12.0, false, Align::Center);
    if let Some(agency) = &figures.ask.agency {
        layout.paragraph(agency, LEFT, WIDTH, 12.0, false, Align::Center);
    }
    // A public report says once, on top, what its `x` cells are, and again under each table.
    let footnote = figures
        .disclosure
        .filter(|d| d.suppressed > 0)
        .map(|d| d.footnote(lang));
    if let Some(note) = &footnote {
        layout.y -= 4.0;
        layout.paragraph(note, LEFT, WIDTH, 9.0, false, Align::Left);
    }
    layout.y -= 10.0;

    for section in &figures.sections {
        layout.y -= 4.0;
        layout.paragraph(
            pick(&section.title, lang),
            LEFT,
            WIDTH,
            12.0,
            true,
            Align::Left,
        );
        if let Some(text) = &section.text {
            layout.paragraph(pick(text, lang), LEFT, WIDTH, 12.0, false, Align::Left);
        }
        for table in &section.tables {
            layout.y -= 4.0;
            layout.paragraph(
                pick(&table.title, lang),
                LEFT,
                WIDTH,
                10.0,
                true,
                Align::Left,
            );
            let key = match (table.rows, lang) {
                (crate::Rows::Month, Lang::Vi) => "Tháng",
                (crate::Rows::Month, Lang::En) => "Month",
                (_, Lang::Vi) => "Cơ quan",
                (_, Lang::En) => "Agency",
            };
            let headings: Vec<String> = std::iter::once(key.to_owned())
                .chain(
                    table
                        .columns
                        .iter()
                        .map(|h| pick(&h.title, lang).to_owned()),
                )
                .collect();
            let rows: Vec<Vec<String>> = table
                .lines
                .iter()
                .map(|line| {
                    let label = match (line.key.as_str(), lang) {
                        ("total", Lang::Vi) => "Tổng cộng".to_owned(),
                        ("total", Lang::En) => "Total".to_owned(),
                        (key, _) => key.to_owned(),
                    };
                    std::iter::once(label)
                        .chain(line.cells.iter().zip(&table.columns).enumerate().map(
                            |(c, (v, h))| match line.is_suppressed(c) {
                                true => SUPPRESSED.to_owned(),
                                false => format_value(*v, h.kind, lang),
                            },
                        ))
                        .collect()
                })
                .collect();
            layout.table(&headings, &rows);
            if let Some(note) = &footnote
                && table.lines.iter().any(|l| !l.suppressed.is_empty())
            {
                layout.paragraph(note, LEFT, WIDTH, 8.0, false, Align::Left);
            }
        }
    }

    // Nơi nhận on the left, the signature block on the right.
    layout.y -= 12.0;
    layout.room(120.0);
    let top = layout.y;
    let (recipients, sign) = match lang {
        Lang::Vi => ("Nơi nhận:", format!("TM. {}", definition.issuer.vi)),
        Lang::En => ("Recipients:", format!("FOR THE {}", definition.issuer.en)),
    };
    layout.paragraph(recipients, LEFT, half, 10.0, true, Align::Left);
    for r in &definition.recipients {
        layout.paragraph(&format!("- {r};"), LEFT, half, 9.0, false, Align::Left);
    }
    layout.y = top;
    layout.paragraph(&sign, LEFT + half, half, 11.0, true, Align::Center);
    write_document(layout)
}

/// Compresses `data` with zlib (PDF's FlateDecode).
fn deflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::Export(e.to_string()))
}

/// Serialises the pages and the font as a PDF file.
fn write_document(layout: Layout) -> Result<Vec<u8>> {
    let Layout { font, pages, .. } = layout;
    let scale = |v: f64| (v * 1000.0 / font.units).round();
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let stream = |dict: &str, data: &[u8]| -> Result<Vec<u8>> {
        let compressed = deflate(data)?;
        let mut out = format!(
            "<< {dict} /Filter /FlateDecode /Length {} >>\nstream\n",
            compressed.len()
        )
        .into_bytes();
        out.extend_from_slice(&compressed);
        out.extend_from_slice(b"\nendstream");
        Ok(out)
    };
    // 1 catalog, 2 pages, 3 Type0 font, 4 CID font, 5 descriptor, 6 font file, 7 ToUnicode,
    // then a page and its content per page.
    let first_page = 8;
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /ParWatchSans /Encoding /Identity-H /DescendantFonts [4 0 R] /ToUnicode 7 0 R >>"
            .to_vec(),
    );
    let mut widths = String::new();
    for (id, (_, advance)) in &font.used {
        let _ = write!(widths, "{id} [{}] ", scale(*advance));
    }
    objects.push(
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ParWatchSans /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 5 0 R /DW 600 /W [{widths}] /CIDToGIDMap /Identity >>"
        )
        .into_bytes(),
    );
    let [x0, y0, x1, y1] = font.bbox.map(scale);
    objects.push(
        format!(
            "<< /Type /FontDescriptor /FontName /ParWatchSans /Flags 32 /FontBBox [{x0} {y0} {x1} {y1}] /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 6 0 R >>",
            scale(font.ascent),
            scale(font.descent),
            scale(font.ascent)
        )
        .into_bytes(),
    );
    objects.push(stream(
        &format!("/Length1 {}", font.bytes.len()),
        &font.bytes,
    )?);
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def /CMapName /Adobe-Identity-UCS def /CMapType 2 def 1 begincodespacerange <0000> <FFFF> endcodespacerange\n",
    );
    let used: Vec<(&u16, &(char, f64))> = font.used.iter().collect();
    for chunk in used.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for (id, (c, _)) in chunk {
            let mut utf16 = [0u16; 2];
            let hex: String = c
                .encode_utf16(&mut utf16)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            let _ = writeln!(cmap, "<{id:04X}> <{hex}>");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap CMapName currentdict /CMap defineresource pop end end");
    objects.push(stream("", cmap.as_bytes())?);
    for content in &pages {
        let content_id = objects.len() + 2;
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>",
                PAGE.0, PAGE.1
            )
            .into_bytes(),
        );
        objects.push(stream("", content.as_bytes())?);
    }
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    Ok(out)
}
