//! The documents a message carries, as PDF: the message itself laid out as a letter (letter,
//! registered mail, fax, or a formal notice attached to an email), invoice copies, a
//! duplicate invoice and a statement of account, each with the client's letterhead and the
//! debtor's address in the envelope window.
//!
//! This module owns turning a [`Message`] into those files. It reads nothing but the
//! message: the brand travels in `payload["brand"]` and the open invoices and the date in
//! `payload["documents"]` (see [`DocumentData`]), both put there by the dispatcher. It sends
//! nothing and decides nothing about which documents a message needs (the scenario names
//! them in [`Message::attachments`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Document, Documents, Message};
use crate::engine::Instance;
use crate::scenario::Channel;
use crate::templates::image::Image;
use crate::templates::pdf::{InvoiceLine, InvoiceTable, Letter};
use crate::templates::{Brand, DateStyle, Rendered, format_date};

/// The content type of every document built here.
pub const PDF: &str = "application/pdf";

/// What the documents are built from besides the message's text, carried in
/// `payload["documents"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DocumentData {
    /// The case's open invoices.
    pub invoices: Vec<InvoiceLine>,
    /// The day the documents are dated, in the debtor's time zone.
    pub date: Option<NaiveDate>,
}

impl DocumentData {
    /// The open invoices of `instance`'s case, dated `today`.
    pub fn of(instance: &Instance, today: NaiveDate) -> DocumentData {
        DocumentData {
            invoices: instance
                .case
                .open_invoices()
                .map(|inv| InvoiceLine {
                    number: inv.number.clone(),
                    issued: inv.issued,
                    due: inv.due,
                    amount: inv.amount,
                    balance: inv.open(),
                    currency: inv.currency.code().to_owned(),
                })
                .collect(),
            date: Some(today),
        }
    }

    /// The data as it sits in a message's payload.
    pub fn to_payload(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A document that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The name is none of `letter.pdf`, `<template>.pdf`, `invoice-<number>.pdf`,
    /// `duplicate-<number>.pdf`, `statement.pdf`.
    #[error(
        "no document is called `{name}`: expected letter.pdf, <template>.pdf, \
         invoice-<number>.pdf, duplicate-<number>.pdf or statement.pdf"
    )]
    UnknownName { name: String },
    /// The invoice is not among the open invoices the message carries.
    #[error("`{name}`: invoice {number} is not among the case's open invoices")]
    NoInvoice { name: String, number: String },
    /// The message has no text to lay out as a letter.
    #[error("the message has no text to print as a letter")]
    EmptyLetter,
    /// The PDF writer refused (an amount in an unknown currency).
    #[error("`{name}`: {reason}")]
    Pdf { name: String, reason: String },
}

/// Builds the documents a message names, as [`Documents`] for the `smtp` adapter: a name
/// that cannot be built is left out with a warning.
#[derive(Clone, Copy, Debug, Default)]
pub struct PdfDocuments;

impl Documents for PdfDocuments {
    fn document(&self, msg: &Message, name: &str) -> Option<Document> {
        match attachment(msg, name) {
            Ok(doc) => Some(doc),
            Err(err) => {
                tracing::warn!(key = %msg.key, case.id = %msg.case_id, attachment = %name, error = %err, "document not built; left out");
                None
            }
        }
    }
}

/// The message laid out as a letter: the brand's letterhead, the debtor's address in the
/// window, place and date, then the text. A fax has no window: its cover text stays as the
/// template wrote it, under the letterhead.
pub fn letter(msg: &Message) -> Result<Vec<u8>, DocumentError> {
    if msg.body.trim().is_empty() {
        return Err(DocumentError::EmptyLetter);
    }
    let brand = brand_of(msg);
    let data = data_of(msg);
    let mut letter = if msg.channel == Channel::Fax {
        fax_sheet(&brand, msg)
    } else {
        let rendered = Rendered {
            subject: msg.subject.clone(),
            body: msg.body.clone(),
        };
        let mut letter = Letter::from_rendered(&brand, &rendered);
        if letter.recipient.is_empty() {
            letter.recipient = recipient_lines(msg);
        }
        if letter.place_date.is_empty() {
            letter.place_date = dated(&data, &msg.language);
        }
        letter
    };
    letter.logo = logo_of(&brand);
    letter.to_pdf().map_err(|e| DocumentError::Pdf {
        name: "letter.pdf".into(),
        reason: e.to_string(),
    })
}

/// The document `name` of [`Message::attachments`].
pub fn attachment(msg: &Message, name: &str) -> Result<Document, DocumentError> {
    let own = msg.template.as_ref().map(|t| format!("{t}.pdf"));
    let bytes = if name == "letter.pdf" || own.as_deref() == Some(name) {
        letter(msg)?
    } else if let Some(number) = between(name, "invoice-", ".pdf") {
        invoice(msg, name, number, Kind::Copy)?
    } else if let Some(number) = between(name, "duplicate-", ".pdf") {
        invoice(msg, name, number, Kind::Duplicate)?
    } else if name == "statement.pdf" {
        statement(msg)?
    } else {
        return Err(DocumentError::UnknownName {
            name: name.to_string(),
        });
    };
    Ok(Document {
        name: name.to_string(),
        content_type: PDF.to_string(),
        bytes,
    })
}

/// Every document of [`Message::attachments`], in order; the first that cannot be built
/// stops it.
pub fn attachments(msg: &Message) -> Result<Vec<Document>, DocumentError> {
    msg.attachments
        .iter()
        .map(|name| attachment(msg, name))
        .collect()
}

/// The brand the message carries (`payload["brand"]`), or the default brand.
pub(crate) fn brand_of(msg: &Message) -> Brand {
    serde_json::from_value(msg.payload["brand"].clone()).unwrap_or_default()
}

/// The brand's logo, when it names a local image file (a web address is for HTML only).
/// One that cannot be read is left out with a warning: the letter still goes.
pub(crate) fn logo_of(brand: &Brand) -> Option<Image> {
    let path = brand.logo.trim();
    if path.is_empty() || path.starts_with("http://") || path.starts_with("https://") {
        return None;
    }
    match Image::load(std::path::Path::new(path)) {
        Ok(image) => Some(image),
        Err(err) => {
            tracing::warn!(error = %err, "the brand's logo is left out of the PDF");
            None
        }
    }
}

/// The document data the message carries, or none.
fn data_of(msg: &Message) -> DocumentData {
    serde_json::from_value(msg.payload["documents"].clone()).unwrap_or_default()
}

/// The window's lines: the debtor's name, then the postal address.
fn recipient_lines(msg: &Message) -> Vec<String> {
    std::iter::once(msg.to.name.clone())
        .chain(msg.to.address.iter().cloned())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

fn dated(data: &DocumentData, lang: &str) -> String {
    data.date
        .map(|d| format_date(d, lang, DateStyle::Long))
        .unwrap_or_default()
}

/// A fax cover and text: the template's text under the letterhead, without the brand's name
/// the template opens with (the letterhead prints it).
fn fax_sheet(brand: &Brand, msg: &Message) -> Letter {
    let body = msg.body.trim_start_matches('\n');
    let body = match body.split_once('\n') {
        Some((first, rest))
            if !brand.legal_name.trim().is_empty() && first.trim() == brand.legal_name.trim() =>
        {
            rest.to_string()
        }
        _ => body.to_string(),
    };
    Letter {
        brand: brand.clone(),
        recipient: Vec::new(),
        place_date: String::new(),
        subject: msg.subject.clone(),
        body,
        invoices: None,
        logo: logo_of(brand),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Copy,
    Duplicate,
}

fn invoice(msg: &Message, name: &str, number: &str, kind: Kind) -> Result<Vec<u8>, DocumentError> {
    let data = data_of(msg);
    let Some(line) = data.invoices.iter().find(|i| i.number == number) else {
        return Err(DocumentError::NoInvoice {
            name: name.to_string(),
            number: number.to_string(),
        });
    };
    let lang = msg.language.as_str();
    let subject = match (kind, lang) {
        (Kind::Copy, "fr") => format!("Copie de la facture {number}"),
        (Kind::Copy, "es") => format!("Copia de la factura {number}"),
        (Kind::Copy, _) => format!("Copy of invoice {number}"),
        (Kind::Duplicate, "fr") => format!("DUPLICATA – facture {number}"),
        (Kind::Duplicate, "es") => format!("DUPLICADO – factura {number}"),
        (Kind::Duplicate, _) => format!("DUPLICATE – invoice {number}"),
    };
    table_document(msg, name, subject, vec![line.clone()], &data)
}

fn statement(msg: &Message) -> Result<Vec<u8>, DocumentError> {
    let data = data_of(msg);
    let case = &msg.case_id;
    let subject = match msg.language.as_str() {
        "fr" => format!("Relevé de compte – dossier {case}"),
        "es" => format!("Extracto de cuenta – expediente {case}"),
        _ => format!("Statement of account – case {case}"),
    };
    let lines = data.invoices.clone();
    table_document(msg, "statement.pdf", subject, lines, &data)
}

/// A one-page document: letterhead, window, date, subject, the case's reference and a table.
fn table_document(
    msg: &Message,
    name: &str,
    subject: String,
    lines: Vec<InvoiceLine>,
    data: &DocumentData,
) -> Result<Vec<u8>, DocumentError> {
    let lang = msg.language.clone();
    let reference = match lang.as_str() {
        "fr" => format!("Référence du dossier : {}", msg.case_id),
        "es" => format!("Referencia del expediente: {}", msg.case_id),
        _ => format!("Case reference: {}", msg.case_id),
    };
    let brand = brand_of(msg);
    Letter {
        logo: logo_of(&brand),
        brand,
        recipient: recipient_lines(msg),
        place_date: dated(data, &lang),
        subject: Some(subject),
        body: reference,
        invoices: Some(InvoiceTable { lang, lines }),
    }
    .to_pdf()
    .map_err(|e| DocumentError::Pdf {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

/// The text of `name` between `prefix` and `suffix`, when it has both and something between.
fn between<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::channels::{MessageKind, Recipient};

    fn message(channel: Channel, attachments: &[&str]) -> Message {
        let data = DocumentData {
            invoices: vec![InvoiceLine {
                number: "F-1".into(),
                issued: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default(),
                due: NaiveDate::from_ymd_opt(2026, 2, 14).unwrap_or_default(),
                amount: dec!(1250.00),
                balance: dec!(1250.00),
                currency: "EUR".into(),
            }],
            date: NaiveDate::from_ymd_opt(2026, 3, 20),
        };
        Message {
            key: "k".into(),
            case_id: "acme/D-1".into(),
            channel,
            template: Some("reminder_letter".into()),
            language: "fr".into(),
            subject: None,
            body: "Madame, Monsieur,\nvotre facture est échue.\n".into(),
            to: Recipient {
                name: "Martin SARL".into(),
                address: vec!["12 rue des Lilas".into(), "69003 Lyon".into()],
                ..Recipient::default()
            },
            attachments: attachments.iter().map(|s| s.to_string()).collect(),
            kind: MessageKind::Send,
            payload: serde_json::json!({
                "brand": { "legal_name": "ACME SAS" },
                "documents": data.to_payload(),
            }),
        }
    }

    #[test]
    fn every_named_document_is_a_pdf() {
        let msg = message(
            Channel::Email,
            &[
                "invoice-F-1.pdf",
                "duplicate-F-1.pdf",
                "statement.pdf",
                "reminder_letter.pdf",
            ],
        );
        let docs = attachments(&msg).unwrap();
        assert_eq!(docs.len(), 4);
        for doc in docs {
            assert!(doc.bytes.starts_with(b"%PDF-"), "{}", doc.name);
            assert_eq!(doc.content_type, PDF);
        }
    }

    #[test]
    fn an_invoice_the_message_does_not_carry_is_an_error() {
        let msg = message(Channel::Email, &[]);
        assert!(matches!(
            attachment(&msg, "invoice-F-9.pdf"),
            Err(DocumentError::NoInvoice { .. })
        ));
        assert!(matches!(
            attachment(&msg, "invoice-.pdf"),
            Err(DocumentError::UnknownName { .. })
        ));
        assert!(PdfDocuments.document(&msg, "photo.jpg").is_none());
    }

    #[test]
    fn an_empty_message_is_no_letter() {
        let mut msg = message(Channel::Letter, &[]);
        msg.body = "\n".into();
        assert_eq!(letter(&msg), Err(DocumentError::EmptyLetter));
    }

    #[test]
    fn a_fax_drops_the_brand_line_the_letterhead_prints() {
        let mut msg = message(Channel::Fax, &[]);
        msg.body = "ACME SAS\nTÉLÉCOPIE\n\nObjet : rappel".into();
        let sheet = fax_sheet(&brand_of(&msg), &msg);
        assert!(sheet.body.starts_with("TÉLÉCOPIE"), "{}", sheet.body);
        assert!(sheet.recipient.is_empty());
    }
}
