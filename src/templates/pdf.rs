//! Letters and invoice copies as PDF documents: a small PDF 1.4 writer (text in the base-14
//! Helvetica fonts with WinAnsi encoding, rules and boxes, A4 pages, page breaks and page
//! numbers) and the layout of a letter for a DL window envelope.
//!
//! This module owns turning already rendered text into pages. It renders no template, reads
//! no file and sends nothing; the caller passes the brand, the rendered message and the
//! recipient's address lines.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::format::{DateStyle, FormatError, format_date, format_money};
use super::image::{Image, ImageEncoding};
use super::{Brand, Rendered};
use chrono::NaiveDate;

/// Points per millimetre.
pub const MM: f32 = 72.0 / 25.4;
/// A4 width in points.
pub const PAGE_WIDTH: f32 = 210.0 * MM;
/// A4 height in points.
pub const PAGE_HEIGHT: f32 = 297.0 * MM;

/// Left edge of the recipient's address block, from the left edge of the page: inside the
/// window of a DL envelope (window 100 mm wide, from 100 mm to 200 mm).
pub const ADDRESS_LEFT_MM: f32 = 110.0;
/// Top of the recipient's address block, from the top of the page (the window of a DL
/// envelope spans about 45 mm to 95 mm from the top of a letter folded in three).
pub const ADDRESS_TOP_MM: f32 = 50.0;
/// Widest the address block may be before its lines wrap.
pub const ADDRESS_WIDTH_MM: f32 = 85.0;

const MARGIN_LEFT: f32 = 20.0 * MM;
const MARGIN_RIGHT: f32 = 20.0 * MM;
const MARGIN_TOP: f32 = 20.0 * MM;
const MARGIN_BOTTOM: f32 = 22.0 * MM;
const BODY_SIZE: f32 = 10.0;
const LEADING: f32 = 13.0;

/// One of the two fonts a document uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// Why a document could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// An amount of the invoice table could not be formatted (unknown currency).
    #[error("invoice `{number}`: {source}")]
    Amount {
        number: String,
        #[source]
        source: FormatError,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Text {
        x: f32,
        y: f32,
        font: Font,
        size: f32,
        color: (f32, f32, f32),
        text: String,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        width: f32,
    },
    /// Image `index` of the document, its top-left corner at (`x`, `y`).
    Image {
        index: usize,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// A PDF document being drawn: A4 pages, coordinates in points from the top-left corner.
#[derive(Clone, Debug, Default)]
pub struct Document {
    pages: Vec<Vec<Op>>,
    title: String,
    images: Vec<Image>,
}

impl Document {
    /// An empty document; `title` goes into the document information.
    pub fn new(title: &str) -> Self {
        Document {
            pages: vec![Vec::new()],
            title: title.to_owned(),
            images: Vec::new(),
        }
    }

    /// Starts a new page; drawing goes there from now on.
    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
    }

    /// How many pages the document has.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Writes one line of text with its baseline `y` points below the top of the page.
    pub fn text(&mut self, x: f32, y: f32, font: Font, size: f32, text: &str) {
        self.colored_text(x, y, font, size, (0.0, 0.0, 0.0), text);
    }

    /// [`Document::text`] in a colour (red, green, blue from 0 to 1).
    pub fn colored_text(
        &mut self,
        x: f32,
        y: f32,
        font: Font,
        size: f32,
        color: (f32, f32, f32),
        text: &str,
    ) {
        self.push(Op::Text {
            x,
            y,
            font,
            size,
            color,
            text: text.to_owned(),
        });
    }

    /// Writes text so that it ends at `right`.
    pub fn text_right(&mut self, right: f32, y: f32, font: Font, size: f32, text: &str) {
        let x = right - text_width(font, size, text);
        self.text(x, y, font, size, text);
    }

    /// A straight rule between two points.
    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        self.push(Op::Line {
            x1,
            y1,
            x2,
            y2,
            width,
        });
    }

    /// The outline of a box whose top-left corner is at (`x`, `y`).
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32) {
        self.push(Op::Rect { x, y, w, h, width });
    }

    /// Draws `image` `w` × `h` points with its top-left corner at (`x`, `y`); the same
    /// image drawn twice is stored once.
    pub fn image(&mut self, image: &Image, x: f32, y: f32, w: f32, h: f32) {
        let index = match self.images.iter().position(|i| i == image) {
            Some(i) => i,
            None => {
                self.images.push(image.clone());
                self.images.len() - 1
            }
        };
        self.push(Op::Image { index, x, y, w, h });
    }

    /// The finished file, with "n / N" at the foot of every page when `page_numbers`.
    pub fn to_bytes(&self, page_numbers: bool) -> Vec<u8> {
        let count = self.pages.len();
        let mut out: Vec<u8> = Vec::new();
        let mut offsets: Vec<usize> = Vec::new();
        out.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");

        let mut object = |out: &mut Vec<u8>, body: &[u8]| {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        };

        // 1 catalog, 2 page tree, 3 and 4 fonts, 5 information, then page and contents
        // objects in pairs, then the images.
        let first_image = 6 + 2 * count;
        let xobjects = if self.images.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = (0..self.images.len())
                .map(|i| format!("/Im{i} {} 0 R", first_image + i))
                .collect();
            format!(" /XObject << {} >>", names.join(" "))
        };
        object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
        let kids: Vec<String> = (0..count).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
        object(
            &mut out,
            format!(
                "<< /Type /Pages /Kids [{}] /Count {count} /MediaBox [0 0 {} {}] >>",
                kids.join(" "),
                num(PAGE_WIDTH),
                num(PAGE_HEIGHT)
            )
            .as_bytes(),
        );
        for base in ["Helvetica", "Helvetica-Bold"] {
            object(
                &mut out,
                format!(
                    "<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>"
                )
                .as_bytes(),
            );
        }
        let mut info = b"<< /Title ".to_vec();
        info.extend_from_slice(&pdf_string(&self.title));
        info.extend_from_slice(b" >>");
        object(&mut out, &info);

        for (i, ops) in self.pages.iter().enumerate() {
            let mut content = Vec::new();
            for op in ops {
                write_op(&mut content, op);
            }
            if page_numbers {
                let label = format!("{} / {count}", i + 1);
                let x = PAGE_WIDTH - MARGIN_RIGHT - text_width(Font::Regular, 8.0, &label);
                let y = PAGE_HEIGHT - 12.0 * MM;
                write_op(
                    &mut content,
                    &Op::Text {
                        x,
                        y,
                        font: Font::Regular,
                        size: 8.0,
                        color: (0.4, 0.4, 0.4),
                        text: label,
                    },
                );
            }
            object(
                &mut out,
                format!(
                    "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R >>{xobjects} >> /Contents {} 0 R >>",
                    7 + 2 * i
                )
                .as_bytes(),
            );
            let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            stream.extend_from_slice(&content);
            stream.extend_from_slice(b"\nendstream");
            object(&mut out, &stream);
        }

        for image in &self.images {
            let filter = match image.encoding {
                ImageEncoding::Jpeg => "/DCTDecode".to_owned(),
                ImageEncoding::Png => format!(
                    "/FlateDecode /DecodeParms << /Predictor 15 /Colors {} /BitsPerComponent 8 /Columns {} >>",
                    image.colors, image.width
                ),
            };
            let mut stream = format!(
                "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace {} /BitsPerComponent 8 /Filter {filter} /Length {} >>\nstream\n",
                image.width,
                image.height,
                image.color_space(),
                image.data.len()
            )
            .into_bytes();
            stream.extend_from_slice(&image.data);
            stream.extend_from_slice(b"\nendstream");
            object(&mut out, &stream);
        }

        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n", offsets.len() + 1).as_bytes());
        out.extend_from_slice(b"0000000000 65535 f \n");
        for offset in &offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                offsets.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

/// A number as PDF writes it: at most two decimals, no trailing zeros.
fn num(value: f32) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

fn write_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            font,
            size,
            color,
            text,
        } => {
            out.extend_from_slice(
                format!(
                    "BT {} {} {} rg /{} {} Tf {} {} Td ",
                    num(color.0),
                    num(color.1),
                    num(color.2),
                    font.resource(),
                    num(*size),
                    num(*x),
                    num(PAGE_HEIGHT - y)
                )
                .as_bytes(),
            );
            out.extend_from_slice(&pdf_string(text));
            out.extend_from_slice(b" Tj ET\n");
        }
        Op::Line {
            x1,
            y1,
            x2,
            y2,
            width,
        } => out.extend_from_slice(
            format!(
                "{} w {} {} m {} {} l S\n",
                num(*width),
                num(*x1),
                num(PAGE_HEIGHT - y1),
                num(*x2),
                num(PAGE_HEIGHT - y2)
            )
            .as_bytes(),
        ),
        Op::Rect { x, y, w, h, width } => out.extend_from_slice(
            format!(
                "{} w {} {} {} {} re S\n",
                num(*width),
                num(*x),
                num(PAGE_HEIGHT - y - h),
                num(*w),
                num(*h)
            )
            .as_bytes(),
        ),
        Op::Image { index, x, y, w, h } => out.extend_from_slice(
            format!(
                "q {} 0 0 {} {} {} cm /Im{index} Do Q\n",
                num(*w),
                num(*h),
                num(*x),
                num(PAGE_HEIGHT - y - h)
            )
            .as_bytes(),
        ),
    }
}

// TODO: characters outside WinAnsi (Polish, Czech, Greek letters…) print as `?`: that needs
// an embedded font, which this writer does not have.
/// A PDF literal string in WinAnsi bytes, with `(`, `)` and `\` escaped and bytes outside
/// printable ASCII written in octal.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in text.chars() {
        let byte = winansi(c).unwrap_or(b'?');
        match byte {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(byte);
            }
            0x20..=0x7e => out.push(byte),
            _ => out.extend_from_slice(format!("\\{byte:03o}").as_bytes()),
        }
    }
    out.push(b')');
    out
}

/// The WinAnsi (Windows-1252) byte of a character, if it has one. The special spaces of
/// French money formatting become a no-break space; tabs become a space.
pub fn winansi(c: char) -> Option<u8> {
    let code = c as u32;
    match code {
        0x09 => Some(b' '),
        0x20..=0x7e | 0xa0..=0xff => Some(code as u8),
        0x2007 | 0x2009 | 0x202f => Some(0xa0),
        _ => {
            let byte = match c {
                '€' => 0x80,
                '‚' => 0x82,
                'ƒ' => 0x83,
                '„' => 0x84,
                '…' => 0x85,
                '†' => 0x86,
                '‡' => 0x87,
                'ˆ' => 0x88,
                '‰' => 0x89,
                'Š' => 0x8a,
                '‹' => 0x8b,
                'Œ' => 0x8c,
                'Ž' => 0x8e,
                '\u{2018}' => 0x91,
                '\u{2019}' => 0x92,
                '\u{201c}' => 0x93,
                '\u{201d}' => 0x94,
                '•' => 0x95,
                '–' => 0x96,
                '—' => 0x97,
                '˜' => 0x98,
                '™' => 0x99,
                'š' => 0x9a,
                '›' => 0x9b,
                'œ' => 0x9c,
                'ž' => 0x9e,
                'Ÿ' => 0x9f,
                '\u{2011}' => b'-',
                _ => return None,
            };
            Some(byte)
        }
    }
}

/// Advance widths of printable ASCII (32 to 126) in Helvetica, per 1000 units of font size.
const REGULAR_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Advance widths of printable ASCII (32 to 126) in Helvetica-Bold.
const BOLD_ASCII: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The advance width of one character, in thousandths of the font size. Accented letters
/// take the width of their base letter; anything else unknown counts as a digit.
fn char_width(font: Font, c: char) -> u16 {
    let table = match font {
        Font::Regular => &REGULAR_ASCII,
        Font::Bold => &BOLD_ASCII,
    };
    let ascii = |b: u8| table[usize::from(b - 32)];
    match c {
        ' '..='~' => ascii(c as u8),
        '\u{a0}' | '\u{202f}' | '\u{2009}' | '\u{2007}' | '\t' => 278,
        'ì' | 'í' | 'î' | 'ï' => 278,
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => ascii(b'a'),
        'è' | 'é' | 'ê' | 'ë' => ascii(b'e'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => ascii(b'o'),
        'ù' | 'ú' | 'û' | 'ü' => ascii(b'u'),
        'ç' => ascii(b'c'),
        'ñ' => ascii(b'n'),
        'ý' | 'ÿ' => ascii(b'y'),
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => ascii(b'A'),
        'È' | 'É' | 'Ê' | 'Ë' => ascii(b'E'),
        'Ì' | 'Í' | 'Î' | 'Ï' => ascii(b'I'),
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => ascii(b'O'),
        'Ù' | 'Ú' | 'Û' | 'Ü' => ascii(b'U'),
        'Ç' => ascii(b'C'),
        'Ñ' => ascii(b'N'),
        'œ' => 944,
        'Œ' => 1000,
        '—' | '…' | '‰' => 1000,
        '\u{2018}' | '\u{2019}' => 222,
        '\u{201c}' | '\u{201d}' => 333,
        '«' | '»' => 556,
        '°' => 400,
        '•' => 350,
        _ => 556,
    }
}

/// The width of `text` in points at `size`.
pub fn text_width(font: Font, size: f32, text: &str) -> f32 {
    let units: u32 = text.chars().map(|c| u32::from(char_width(font, c))).sum();
    units as f32 * size / 1000.0
}

/// Breaks `text` into lines no wider than `width` points, at spaces; a word wider than a
/// whole line is cut where it overflows.
pub fn wrap(text: &str, font: Font, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if text_width(font, size, &candidate) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut rest = word.to_owned();
        while text_width(font, size, &rest) > width {
            let mut cut = String::new();
            for c in rest.chars() {
                if text_width(font, size, &format!("{cut}{c}")) > width && !cut.is_empty() {
                    break;
                }
                cut.push(c);
            }
            rest = rest[cut.len()..].to_owned();
            lines.push(cut);
        }
        line = rest;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text flowing down the body of the pages: a cursor that wraps lines to the body width
/// and starts a new page when the next line would cross the bottom margin.
struct Flow<'d> {
    doc: &'d mut Document,
    /// Baseline of the last line written, from the top of the page.
    y: f32,
}

impl Flow<'_> {
    fn width(&self) -> f32 {
        PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    }

    /// Makes room for `height` more points, on a new page when this one is full.
    fn room(&mut self, height: f32) {
        if self.y + height > PAGE_HEIGHT - MARGIN_BOTTOM {
            self.doc.new_page();
            self.y = MARGIN_TOP;
        }
    }

    fn gap(&mut self, height: f32) {
        self.y += height;
    }

    /// One source line, wrapped; continuation lines are indented by `hang` points.
    fn paragraph(&mut self, font: Font, size: f32, text: &str, hang: f32) {
        let leading = size * 1.3;
        let lines = wrap(text, font, size, self.width());
        let Some(head) = lines.first() else {
            return;
        };
        self.room(leading);
        self.y += leading;
        self.doc.text(MARGIN_LEFT, self.y, font, size, head);

        let taken = head.split(' ').filter(|w| !w.is_empty()).count();
        let rest: Vec<&str> = text
            .split(' ')
            .filter(|w| !w.is_empty())
            .skip(taken)
            .collect();
        if rest.is_empty() {
            return;
        }
        for line in wrap(&rest.join(" "), font, size, self.width() - hang) {
            self.room(leading);
            self.y += leading;
            self.doc.text(MARGIN_LEFT + hang, self.y, font, size, &line);
        }
    }
}

/// The invoice lines of an invoice copy or of a letter's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub number: String,
    pub issued: NaiveDate,
    pub due: NaiveDate,
    pub amount: Decimal,
    /// What is still open on it.
    pub balance: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

/// A table of invoices with their total open balance, with headings in `lang`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceTable {
    pub lang: String,
    pub lines: Vec<InvoiceLine>,
}

/// A letter ready to lay out: the sender's brand at the top, the recipient's address in the
/// envelope window, place and date, the subject in bold, then the body and an optional
/// table of invoices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub brand: Brand,
    /// Address lines, the name first.
    pub recipient: Vec<String>,
    /// "Lyon, le 20 mars 2026"; empty for none.
    pub place_date: String,
    pub subject: Option<String>,
    pub body: String,
    pub invoices: Option<InvoiceTable>,
    /// The brand's logo, drawn top right of the first page.
    pub logo: Option<Image>,
}

/// Lines that open a letter's subject, in the shipped languages.
const SUBJECT_PREFIXES: &[&str] = &[
    "Objet :",
    "Objet:",
    "Asunto:",
    "Asunto :",
    "Subject:",
    "Our reference:",
    "Re:",
];

impl Letter {
    /// A letter from a rendered letter template. When the body opens with the letter head
    /// the shipped templates write (the brand's name, then the recipient's address block and
    /// the date, in either order), that head is taken out of the body: the address block
    /// becomes the recipient and the date the place and date, laid out where they belong.
    pub fn from_rendered(brand: &Brand, rendered: &Rendered) -> Letter {
        let mut letter = Letter {
            brand: brand.clone(),
            recipient: Vec::new(),
            place_date: String::new(),
            subject: rendered.subject.clone(),
            body: rendered.body.clone(),
            invoices: None,
            logo: None,
        };

        let blocks = blocks(&rendered.body);
        let opens_with_head = blocks
            .first()
            .and_then(|b| b.lines.first())
            .is_some_and(|l| {
                !brand.legal_name.trim().is_empty() && l.trim() == brand.legal_name.trim()
            });
        if opens_with_head && blocks.len() > 3 {
            let (a, b) = (&blocks[1], &blocks[2]);
            let (address, date) = if a.lines.len() >= b.lines.len() {
                (a, b)
            } else {
                (b, a)
            };
            letter.recipient = address.lines.clone();
            letter.place_date = place_and_date(brand, &date.lines.join(" "));
            letter.body = rendered.body[blocks[3].start..].to_owned();
        }
        letter
    }

    /// The letter as a PDF file.
    pub fn to_pdf(&self) -> Result<Vec<u8>, PdfError> {
        let title = self
            .subject
            .clone()
            .or_else(|| {
                self.body
                    .lines()
                    .find(|l| is_subject(l))
                    .map(|l| l.to_owned())
            })
            .unwrap_or_else(|| self.brand.legal_name.clone());
        let mut doc = Document::new(&title);

        letterhead(&mut doc, &self.brand);
        if let Some(logo) = &self.logo {
            draw_logo(&mut doc, logo);
        }
        address_block(&mut doc, &self.recipient);

        let mut flow = Flow {
            doc: &mut doc,
            y: 100.0 * MM,
        };
        if !self.place_date.is_empty() {
            flow.doc.text(
                ADDRESS_LEFT_MM * MM,
                95.0 * MM,
                Font::Regular,
                BODY_SIZE,
                &self.place_date,
            );
        }
        if let Some(subject) = &self.subject {
            flow.gap(LEADING);
            flow.paragraph(Font::Bold, BODY_SIZE, subject, 0.0);
        }
        flow.gap(LEADING * 0.5);

        let mut blank = false;
        for line in self.body.trim_matches('\n').lines() {
            let line = line.trim_end();
            if line.is_empty() {
                if !blank {
                    flow.gap(LEADING * 0.6);
                }
                blank = true;
                continue;
            }
            blank = false;
            let bold = is_subject(line) || is_heading(line);
            let font = if bold { Font::Bold } else { Font::Regular };
            let hang = if line.starts_with("- ") {
                text_width(font, BODY_SIZE, "- ")
            } else {
                0.0
            };
            flow.paragraph(font, BODY_SIZE, line, hang);
        }

        if let Some(table) = &self.invoices {
            flow.gap(LEADING);
            invoice_table(&mut flow, table)?;
        }
        Ok(doc.to_bytes(true))
    }
}

/// A letter as a PDF: `rendered` laid out with the brand's letterhead and `recipient` in the
/// envelope window. An empty `recipient` or `place_date` keeps what the rendered letter head
/// gave (see [`Letter::from_rendered`]).
pub fn letter_pdf(
    brand: &Brand,
    rendered: &Rendered,
    recipient: &[String],
    place_date: &str,
) -> Vec<u8> {
    let mut letter = Letter::from_rendered(brand, rendered);
    if !recipient.is_empty() {
        letter.recipient = recipient.to_vec();
    }
    if !place_date.is_empty() {
        letter.place_date = place_date.to_owned();
    }
    // A letter without a table has no amount to format, so it cannot fail.
    letter.to_pdf().unwrap_or_default()
}

/// An invoice copy: the letterhead, the recipient in the window, a title (the case
/// reference) and the table of the invoices with their total open balance.
pub fn invoice_copy(
    brand: &Brand,
    recipient: &[String],
    place_date: &str,
    reference: &str,
    table: &InvoiceTable,
) -> Result<Vec<u8>, PdfError> {
    let heading = match table.lang.as_str() {
        "fr" => format!("Copie de facture – dossier {reference}"),
        "es" => format!("Copia de factura – expediente {reference}"),
        _ => format!("Invoice copy – case {reference}"),
    };
    Letter {
        brand: brand.clone(),
        recipient: recipient.to_vec(),
        place_date: place_date.to_owned(),
        subject: Some(heading),
        body: String::new(),
        invoices: Some(table.clone()),
        logo: None,
    }
    .to_pdf()
}

struct Block {
    start: usize,
    lines: Vec<String>,
}

/// The body's blocks of consecutive non-empty lines, with the byte offset of each.
fn blocks(body: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut offset = 0;
    let mut open = false;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end();
        if text.is_empty() {
            open = false;
        } else if open {
            if let Some(b) = out.last_mut() {
                b.lines.push(text.to_owned());
            }
        } else {
            out.push(Block {
                start: offset,
                lines: vec![text.to_owned()],
            });
            open = true;
        }
        offset += line.len();
    }
    out
}

/// "Lyon, le 20 mars 2026" from the brand's town (the last address line, when it starts
/// with a postcode) and the date as the template wrote it.
fn place_and_date(brand: &Brand, date: &str) -> String {
    let town = brand.address.last().and_then(|l| {
        let (code, town) = l.trim().split_once(' ')?;
        code.chars()
            .all(|c| c.is_ascii_digit() || c == '-')
            .then(|| town.trim().to_owned())
    });
    match town {
        Some(town) if !town.is_empty() => {
            let mut chars = date.chars();
            let first: String = chars
                .next()
                .map(|c| c.to_lowercase().collect())
                .unwrap_or_default();
            format!("{town}, {first}{}", chars.as_str())
        }
        _ => date.to_owned(),
    }
}

fn is_subject(line: &str) -> bool {
    SUBJECT_PREFIXES.iter().any(|p| line.starts_with(p))
}

/// A line in capitals, such as "LETTRE RECOMMANDÉE AVEC ACCUSÉ DE RÉCEPTION".
fn is_heading(line: &str) -> bool {
    let letters: Vec<char> = line.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 6 && letters.iter().all(|c| c.is_uppercase())
}

/// A CSS colour `#rrggbb` as PDF colour components.
fn rgb(css: &str) -> (f32, f32, f32) {
    let hex = css.trim().trim_start_matches('#');
    let part = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0.0, |v| f32::from(v) / 255.0)
    };
    if hex.len() == 6 {
        (part(0), part(2), part(4))
    } else {
        (0.0, 0.0, 0.0)
    }
}

/// Largest a logo is drawn, in millimetres: it sits top right, above the envelope window.
const LOGO_MAX_WIDTH_MM: f32 = 60.0;
const LOGO_MAX_HEIGHT_MM: f32 = 22.0;

/// The logo at the top right corner, scaled to fit its box and keeping its proportions.
fn draw_logo(doc: &mut Document, logo: &Image) {
    let (w, h) = (logo.width as f32, logo.height as f32);
    let scale = (LOGO_MAX_WIDTH_MM * MM / w).min(LOGO_MAX_HEIGHT_MM * MM / h);
    let (w, h) = (w * scale, h * scale);
    doc.image(logo, PAGE_WIDTH - MARGIN_RIGHT - w, 15.0 * MM, w, h);
}

/// The brand's name, address, contact and registration numbers, top left, narrow enough to
/// stay clear of the envelope window.
fn letterhead(doc: &mut Document, brand: &Brand) {
    let x = MARGIN_LEFT;
    let width = (ADDRESS_LEFT_MM - 25.0) * MM;
    let mut y = 15.0 * MM + 12.0;
    doc.colored_text(
        x,
        y,
        Font::Bold,
        13.0,
        rgb(&brand.colors.primary),
        &brand.legal_name,
    );
    y += 4.0;

    let mut lines: Vec<String> = brand.address.clone();
    let contact: Vec<&str> = [&brand.phone, &brand.email, &brand.website]
        .into_iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if !contact.is_empty() {
        lines.push(contact.join(" · "));
    }
    for line in lines {
        for part in wrap(&line, Font::Regular, 8.5, width) {
            y += 10.5;
            doc.text(x, y, Font::Regular, 8.5, &part);
        }
    }

    let reg = &brand.registration;
    let mut ids = Vec::new();
    if !reg.siren.trim().is_empty() {
        ids.push(format!("SIREN {}", reg.siren.trim()));
    }
    if !reg.rcs.trim().is_empty() {
        ids.push(reg.rcs.trim().to_owned());
    }
    if !reg.vat.trim().is_empty() {
        ids.push(format!("TVA/VAT {}", reg.vat.trim()));
    }
    if !ids.is_empty() {
        for part in wrap(&ids.join(" · "), Font::Regular, 7.5, width) {
            y += 9.5;
            doc.colored_text(
                x,
                y,
                Font::Regular,
                7.5,
                rgb(&brand.colors.secondary),
                &part,
            );
        }
    }
}

/// The recipient's lines in the envelope window: the name in bold, wrapped to the window.
fn address_block(doc: &mut Document, recipient: &[String]) {
    let x = ADDRESS_LEFT_MM * MM;
    let mut y = ADDRESS_TOP_MM * MM;
    for (i, line) in recipient.iter().enumerate() {
        let font = if i == 0 { Font::Bold } else { Font::Regular };
        for part in wrap(line, font, 10.5, ADDRESS_WIDTH_MM * MM) {
            y += 13.0;
            doc.text(x, y, font, 10.5, &part);
        }
    }
}

/// Headings of the invoice table: number, issued, due, amount, open.
fn table_headings(lang: &str) -> [&'static str; 5] {
    match lang {
        "fr" => ["Facture", "Émise le", "Échéance", "Montant", "Reste dû"],
        "es" => ["Factura", "Emitida", "Vencimiento", "Importe", "Pendiente"],
        _ => ["Invoice", "Issued", "Due", "Amount", "Open"],
    }
}

fn invoice_table(flow: &mut Flow<'_>, table: &InvoiceTable) -> Result<(), PdfError> {
    let lang = table.lang.as_str();
    let left = MARGIN_LEFT;
    let right = PAGE_WIDTH - MARGIN_RIGHT;
    let cols = [left + 2.0, left + 55.0 * MM, left + 85.0 * MM];
    let amount_right = left + 140.0 * MM;
    let open_right = right - 2.0;
    let row = LEADING + 2.0;
    let heads = table_headings(lang);

    let header = |flow: &mut Flow<'_>| {
        flow.room(row * 2.0);
        let top = flow.y + 4.0;
        flow.y += row;
        let y = flow.y;
        flow.doc.text(cols[0], y, Font::Bold, 9.0, heads[0]);
        flow.doc.text(cols[1], y, Font::Bold, 9.0, heads[1]);
        flow.doc.text(cols[2], y, Font::Bold, 9.0, heads[2]);
        flow.doc
            .text_right(amount_right, y, Font::Bold, 9.0, heads[3]);
        flow.doc
            .text_right(open_right, y, Font::Bold, 9.0, heads[4]);
        flow.doc.rect(left, top, right - left, row + 1.0, 0.6);
        flow.y += 5.0;
    };
    header(flow);

    let mut totals: Vec<(String, Decimal)> = Vec::new();
    for line in &table.lines {
        let money = |value: Decimal| {
            format_money(value, &line.currency, lang, false).map_err(|source| PdfError::Amount {
                number: line.number.clone(),
                source,
            })
        };
        let (amount, open) = (money(line.amount)?, money(line.balance)?);
        if flow.y + row > PAGE_HEIGHT - MARGIN_BOTTOM {
            flow.room(PAGE_HEIGHT);
            header(flow);
        }
        flow.y += row;
        let y = flow.y;
        flow.doc.text(cols[0], y, Font::Regular, 9.0, &line.number);
        let issued = format_date(line.issued, lang, DateStyle::Short);
        let due = format_date(line.due, lang, DateStyle::Short);
        flow.doc.text(cols[1], y, Font::Regular, 9.0, &issued);
        flow.doc.text(cols[2], y, Font::Regular, 9.0, &due);
        flow.doc
            .text_right(amount_right, y, Font::Regular, 9.0, &amount);
        flow.doc
            .text_right(open_right, y, Font::Regular, 9.0, &open);
        match totals.iter_mut().find(|(c, _)| *c == line.currency) {
            Some((_, sum)) => *sum += line.balance,
            None => totals.push((line.currency.clone(), line.balance)),
        }
    }

    flow.room(row * 2.0);
    flow.y += 5.0;
    flow.doc.line(left, flow.y, right, flow.y, 0.6);
    let label = match lang {
        "fr" => "Total restant dû",
        "es" => "Total pendiente",
        _ => "Total open",
    };
    for (currency, sum) in totals {
        let total =
            format_money(sum, &currency, lang, false).map_err(|source| PdfError::Amount {
                number: label.to_owned(),
                source,
            })?;
        flow.y += row;
        flow.doc.text(cols[0], flow.y, Font::Bold, 9.5, label);
        flow.doc
            .text_right(open_right, flow.y, Font::Bold, 9.5, &total);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_stored_once_and_drawn_where_it_is_placed() {
        let logo =
            Image::parse(&super::super::image::tests::solid_png(40, 10, [200, 0, 0])).unwrap();
        let mut doc = Document::new("logo");
        doc.image(&logo, 100.0, 50.0, 80.0, 20.0);
        doc.new_page();
        doc.image(&logo, 100.0, 50.0, 80.0, 20.0);
        let bytes = doc.to_bytes(false);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("/Subtype /Image").count(), 1, "{text}");
        assert!(text.contains("/Width 40 /Height 10 /ColorSpace /DeviceRGB"));
        assert!(text.contains("/Predictor 15 /Colors 3 /BitsPerComponent 8 /Columns 40"));
        assert_eq!(text.matches("/XObject << /Im0 10 0 R >>").count(), 2);
        // 80 × 20 points, its bottom-left corner 70 points below the top of the page.
        let placed = format!("q 80 0 0 20 100 {} cm /Im0 Do Q", num(PAGE_HEIGHT - 70.0));
        assert_eq!(text.matches(&placed).count(), 2, "{text}");
    }

    #[test]
    fn accents_and_the_euro_sign_map_to_winansi_bytes() {
        assert_eq!(winansi('é'), Some(0xe9));
        assert_eq!(winansi('ñ'), Some(0xf1));
        assert_eq!(winansi('€'), Some(0x80));
        assert_eq!(winansi('\u{202f}'), Some(0xa0));
        assert_eq!(winansi('–'), Some(0x96));
        assert_eq!(winansi('→'), None);
    }

    #[test]
    fn strings_escape_parentheses_and_write_high_bytes_in_octal() {
        assert_eq!(pdf_string("a(b)\\"), b"(a\\(b\\)\\\\)".to_vec());
        assert_eq!(pdf_string("é€"), b"(\\351\\200)".to_vec());
    }

    #[test]
    fn wrapping_keeps_every_word_and_respects_the_width() {
        let text = "Par la présente, nous vous mettons en demeure de nous régler la somme due.";
        let lines = wrap(text, Font::Regular, 10.0, 120.0);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(text_width(Font::Regular, 10.0, l) <= 120.0, "{l}");
        }
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn a_word_longer_than_the_line_is_cut() {
        let lines = wrap(&"W".repeat(40), Font::Bold, 10.0, 50.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), "W".repeat(40));
    }

    #[test]
    fn the_xref_offsets_point_at_their_objects() {
        let mut doc = Document::new("t");
        doc.text(10.0, 10.0, Font::Regular, 10.0, "hello");
        let bytes = doc.to_bytes(true);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(bytes[start..].starts_with(b"xref"));
        let xref = String::from_utf8_lossy(&bytes[start..]).into_owned();
        let entries: Vec<usize> = xref
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .filter_map(|l| l[..10].parse().ok())
            .collect();
        assert_eq!(entries.len(), 7);
        for (i, offset) in entries.iter().enumerate() {
            assert!(bytes[*offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }

    #[test]
    fn the_letter_head_of_a_rendered_letter_becomes_recipient_and_date() {
        let brand = Brand {
            legal_name: "ACME SAS".into(),
            address: vec!["1 rue X".into(), "69002 Lyon".into()],
            ..Brand::default()
        };
        let rendered = Rendered {
            subject: None,
            body: "ACME SAS\n1 rue X\n69002 Lyon\n\nMartin SARL\n12 rue des Lilas\n69003 Lyon\n\n\
                   Le 20 mars 2026\n\nObjet : rappel\n\nMadame,\n"
                .into(),
        };
        let letter = Letter::from_rendered(&brand, &rendered);
        assert_eq!(letter.recipient[0], "Martin SARL");
        assert_eq!(letter.recipient.len(), 3);
        assert_eq!(letter.place_date, "Lyon, le 20 mars 2026");
        assert!(letter.body.starts_with("Objet : rappel"));
    }
}
