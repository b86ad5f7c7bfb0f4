//! Letters as PDF files: the text a reader sees (checked with poppler's `pdftotext`), the
//! address block inside the envelope window, page breaks, and `relance render`.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use relance::channels::{Agent, RenderExtras, render_message_with};
use relance::engine::{Action, ActionKind, Instance, shared};
use relance::rules::Rules;
use relance::scenario::{Channel, load_checked};
use relance::simulate::parse_case;
use relance::templates::pdf::{
    ADDRESS_LEFT_MM, InvoiceLine, InvoiceTable, Letter, MM, invoice_copy, letter_pdf,
};
use relance::templates::{Brand, BrandRegistration, Rendered, TemplateStore};
use rust_decimal_macros::dec;

fn brand() -> Brand {
    Brand {
        legal_name: "ACME Fournitures SAS".into(),
        address: vec!["4 quai Perrache".into(), "69002 Lyon".into()],
        registration: BrandRegistration {
            siren: "812 345 678".into(),
            vat: "FR12812345678".into(),
            rcs: "RCS Lyon 812 345 678".into(),
        },
        phone: "04 78 00 00 00".into(),
        email: "recouvrement@acme.example".into(),
        ..Brand::default()
    }
}

/// The example case of `file` opened under `scenario`, with interest and costs charged.
fn instance(scenario: &str, file: &str) -> Instance {
    let source = std::fs::read_to_string(format!("scenarios/{scenario}.yaml")).unwrap();
    let scenario = load_checked(&Rules::new(), scenario, &source, None)
        .scenario
        .expect("the scenario loads");
    let text = std::fs::read_to_string(format!("examples/{file}")).unwrap();
    let case = parse_case(file, &text).unwrap().case;
    let opened = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
    let mut inst = shared().start(&scenario, case, opened).unwrap().instance;
    inst.interest = dec!(23.17);
    inst.fees = dec!(80);
    inst
}

fn render(inst: &Instance, template: &str, lang: &str) -> Rendered {
    let extras = RenderExtras {
        agent: Some(Agent {
            name: "Cabinet Durand Recouvrement".into(),
            address: vec!["8 avenue Foch".into(), "75116 Paris".into()],
            registration: "RCS Paris 901 234 567".into(),
        }),
        ..RenderExtras::default()
    };
    let action = Action {
        key: format!("acme/{template}/1"),
        at: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap(),
        step: "notice".into(),
        kind: ActionKind::Send {
            channel: Channel::Letter,
            template: template.into(),
            language: lang.into(),
            attach: vec![],
        },
    };
    let store = TemplateStore::load(Path::new("templates")).expect("templates load");
    let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
    let msg = render_message_with(&store, &brand(), inst, &action, today, &extras)
        .unwrap_or_else(|e| panic!("{lang}/{template}: {e}"));
    Rendered {
        subject: msg.subject,
        body: msg.body,
    }
}

/// Whether pdftotext is there; without it the checks are skipped, except under CI.
fn have_pdftotext() -> bool {
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pdftotext is missing under CI=true: install poppler-utils"
        );
        eprintln!("skipped: pdftotext (poppler-utils) is not installed");
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pdf-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `pdftotext` of `bytes` with `flags`, failing the test if the file does not parse.
fn pdftotext(bytes: &[u8], name: &str, flags: &[&str]) -> String {
    let dir = scratch(name);
    let file = dir.join("letter.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("pdftotext")
        .args(flags)
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{name}: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The word boxes of `pdftotext -bbox`: (word, xMin, yMin, xMax, yMax) in points from the
/// top-left corner.
fn words(bytes: &[u8], name: &str) -> Vec<(String, f32, f32, f32, f32)> {
    let html = pdftotext(bytes, name, &["-bbox"]);
    html.lines()
        .filter(|l| l.trim_start().starts_with("<word"))
        .filter_map(|l| {
            let attr = |key: &str| -> Option<f32> {
                let start = l.find(&format!("{key}=\""))? + key.len() + 2;
                l[start..].split('"').next()?.parse().ok()
            };
            let word = l.split('>').nth(1)?.split('<').next()?.to_owned();
            Some((
                word,
                attr("xMin")?,
                attr("yMin")?,
                attr("xMax")?,
                attr("yMax")?,
            ))
        })
        .collect()
}

#[test]
fn letters_start_with_the_pdf_1_4_header_and_end_with_an_xref() {
    let inst = instance("b2b-france", "case-fr-company.yaml");
    let bytes = letter_pdf(&brand(), &render(&inst, "formal_notice", "fr"), &[], "");
    assert!(bytes.starts_with(b"%PDF-1.4\n"));
    assert!(bytes.ends_with(b"%%EOF\n"));
    assert!(bytes.windows(5).any(|w| w == b"xref\n"));
}

#[test]
fn french_letters_show_creditor_debtor_itemised_amounts_and_accents() {
    if !have_pdftotext() {
        return;
    }
    let inst = instance("b2b-france", "case-fr-company.yaml");
    for template in [
        "formal_notice",
        "formal_notice_registered",
        "handover_notice",
        "reminder_letter",
    ] {
        let bytes = letter_pdf(&brand(), &render(&inst, template, "fr"), &[], "");
        let text = pdftotext(&bytes, template, &["-layout"]);
        for expected in [
            "ACME Fournitures SAS",
            "SIREN 812 345 678",
            "Boulangerie Martin SARL",
            "12 rue des Lilas",
            "69003 Lyon",
            "Lyon, le 20 mars 2026",
            "F-2026-0142",
            "€",
        ] {
            assert!(
                text.contains(expected),
                "{template}: no `{expected}` in\n{text}"
            );
        }
        if template != "reminder_letter" {
            for expected in [
                "principal restant dû : 1 730,50 €",
                "intérêts de retard",
                "23,17 €",
                "indemnité forfaitaire pour frais de recouvrement : 80,00 €",
                "total à régler : 1 833,67 €",
            ] {
                assert!(
                    text.contains(expected),
                    "{template}: no `{expected}` in\n{text}"
                );
            }
        }
        if template.starts_with("formal_notice") {
            assert!(text.contains("mise en demeure"), "{template}");
        }
        if template == "formal_notice_registered" {
            assert!(text.contains("LETTRE RECOMMANDÉE AVEC ACCUSÉ DE RÉCEPTION"));
        }
        if template == "handover_notice" {
            assert!(text.contains("Cabinet Durand Recouvrement"));
            assert!(text.contains("Créancier : ACME Fournitures SAS"));
        }
    }
}

#[test]
fn spanish_letters_keep_their_accents_and_the_euro_sign() {
    if !have_pdftotext() {
        return;
    }
    let inst = instance("b2b-spain", "case-es-company.yaml");
    for template in [
        "formal_notice",
        "formal_notice_registered",
        "handover_notice",
        "reminder_letter",
    ] {
        let bytes = letter_pdf(&brand(), &render(&inst, template, "es"), &[], "");
        let text = pdftotext(&bytes, &format!("es-{template}"), &["-layout"]);
        assert!(text.contains("ACME Fournitures SAS"), "{template}");
        assert!(
            text.contains("Asunto:") || text.contains("BUROFAX"),
            "{template}\n{text}"
        );
        assert!(text.contains("€"), "{template}");
        assert!(text.contains("marzo"), "{template}: the date\n{text}");
    }
    let text = pdftotext(
        &letter_pdf(
            &brand(),
            &render(&inst, "formal_notice_registered", "es"),
            &[],
            "",
        ),
        "es-burofax",
        &["-layout"],
    );
    assert!(text.contains("CERTIFICACIÓN"), "{text}");
}

#[test]
fn the_address_block_sits_in_the_window_of_a_dl_envelope() {
    if !have_pdftotext() {
        return;
    }
    let inst = instance("b2b-france", "case-fr-company.yaml");
    let bytes = letter_pdf(&brand(), &render(&inst, "formal_notice", "fr"), &[], "");
    let boxes = words(&bytes, "window");
    for word in ["Boulangerie", "Lilas", "69003"] {
        let (_, x0, y0, x1, y1) = boxes
            .iter()
            .find(|(w, ..)| w == word)
            .cloned()
            .unwrap_or_else(|| panic!("no `{word}` on the page"));
        assert!(x0 >= 100.0 * MM && x1 <= 200.0 * MM, "{word}: x {x0}..{x1}");
        assert!(y0 >= 45.0 * MM && y1 <= 95.0 * MM, "{word}: y {y0}..{y1}");
        if word != "Lilas" {
            let left = (x0 - ADDRESS_LEFT_MM * MM).abs();
            assert!(
                left < 1.0,
                "{word} starts its line at the block's left edge"
            );
        }
    }
}

#[test]
fn a_long_body_breaks_onto_a_second_page_with_page_numbers() {
    if !have_pdftotext() {
        return;
    }
    let paragraph = "Nous vous rappelons que cette somme reste due à ce jour. ".repeat(12);
    let body = format!("Objet : relevé\n\n{}\nFin de la lettre.\n", {
        let mut s = String::new();
        for _ in 0..12 {
            s.push_str(&paragraph);
            s.push_str("\n\n");
        }
        s
    });
    let letter = Letter {
        brand: brand(),
        recipient: vec!["Boulangerie Martin SARL".into(), "69003 Lyon".into()],
        place_date: "Lyon, le 20 mars 2026".into(),
        subject: None,
        body,
        invoices: None,
        logo: None,
    };
    let bytes = letter.to_pdf().unwrap();
    let text = pdftotext(&bytes, "long", &["-layout"]);
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 2, "{} page(s)", pages.len());
    let numbered = |p: &str, n: usize| {
        let label = format!("{n} / {}", pages.len());
        p.contains(&label) || p.contains(&label.replace(' ', ""))
    };
    assert!(numbered(pages[0], 1), "page number on page 1");
    assert!(numbered(pages[1], 2), "page number on page 2");
    assert!(pages.last().unwrap().contains("Fin de la lettre."));
}

#[test]
fn an_invoice_copy_is_a_table_of_the_invoices_with_their_total() {
    if !have_pdftotext() {
        return;
    }
    let lines = vec![
        InvoiceLine {
            number: "F-2026-0142".into(),
            issued: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
            due: NaiveDate::from_ymd_opt(2026, 2, 14).unwrap(),
            amount: dec!(1250.00),
            balance: dec!(1250.00),
            currency: "EUR".into(),
        },
        InvoiceLine {
            number: "F-2026-0178".into(),
            issued: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
            due: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
            amount: dec!(480.50),
            balance: dec!(480.50),
            currency: "EUR".into(),
        },
    ];
    let recipient = vec![
        "Boulangerie Martin SARL".to_owned(),
        "69003 Lyon".to_owned(),
    ];
    for (lang, heading, total) in [
        ("fr", "Échéance", "Total restant dû"),
        ("es", "Vencimiento", "Total pendiente"),
    ] {
        let table = InvoiceTable {
            lang: lang.into(),
            lines: lines.clone(),
        };
        let bytes = invoice_copy(&brand(), &recipient, "", "acme/D-1001", &table).unwrap();
        let text = pdftotext(&bytes, &format!("copy-{lang}"), &["-layout"]);
        assert!(text.contains(heading), "{lang}\n{text}");
        assert!(text.contains("14/02/2026"), "{lang}\n{text}");
        assert!(
            text.contains("1 250,00 €") || text.contains("1.250,00 €"),
            "{lang}\n{text}"
        );
        let total_line = text
            .lines()
            .find(|l| l.contains(total))
            .expect("a total line");
        assert!(total_line.contains("730,50 €"), "{lang}: {total_line}");
    }
}

#[test]
fn relance_render_prints_the_text_and_writes_the_pdf() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_relance"))
            .current_dir(repo)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "render",
        "formal_notice",
        "--case",
        "examples/case-fr-company.yaml",
        "--today",
        "2026-03-20",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("mise en demeure"));
    assert!(stdout.contains("Le 20 mars 2026"));

    let dir = scratch("cli");
    let file = dir.join("notice.pdf");
    let out = run(&[
        "render",
        "formal_notice",
        "--case",
        "examples/case-fr-company.yaml",
        "--today",
        "2026-03-20",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4"));
    if have_pdftotext() {
        let text = pdftotext(&bytes, "cli-text", &["-layout"]);
        assert!(text.contains("Boulangerie Martin SARL"));
    }

    let out = run(&[
        "render",
        "no_such_template",
        "--case",
        "examples/case-fr-company.yaml",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_template"));
}

#[test]
fn relance_render_runs_the_case_to_today_so_charges_are_in_the_amounts() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let render = |today: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_relance"))
            .current_dir(repo)
            .args([
                "render",
                "formal_notice",
                "--case",
                "examples/case-fr-company.yaml",
                "--today",
                today,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // French amounts use no-break spaces; compare with plain ones.
        String::from_utf8_lossy(&out.stdout).replace(['\u{a0}', '\u{202f}'], " ")
    };
    // Before the formal notice step: principal only.
    let before = render("2026-03-20");
    assert!(before.contains("total à régler : 1 730,50 €"), "{before}");
    assert!(!before.contains("80,00 €"), "{before}");
    // The formal notice step (25 March) charged the indemnity (2 × 40 €) and interest.
    let after = render("2026-03-25");
    assert!(after.contains("80,00 €"), "{after}");
    assert!(after.contains("19,59 €"), "{after}");
    assert!(after.contains("total à régler : 1 830,09 €"), "{after}");

    let out = Command::new(env!("CARGO_BIN_EXE_relance"))
        .current_dir(repo)
        .args([
            "render",
            "formal_notice",
            "--case",
            "examples/case-fr-company.yaml",
            "--today",
            "2025-01-01",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("before the case opens"));
}

#[test]
fn the_brands_logo_is_printed_top_right_of_the_letter() {
    let logo = relance::templates::image::Image::load(Path::new("tests/support/logo.png")).unwrap();
    let mut letter = Letter::from_rendered(
        &brand(),
        &render(
            &instance("b2b-france", "case-fr-company.yaml"),
            "formal_notice",
            "fr",
        ),
    );
    letter.logo = Some(logo);
    let bytes = letter.to_pdf().unwrap();
    if !have_pdftotext() {
        return;
    }
    let dir = scratch("logo");
    let file = dir.join("letter.pdf");
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new("pdfimages")
        .arg("-list")
        .arg(&file)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // page, num, type, width, height, color, comp, bpc …
    let row: Vec<&str> = list
        .lines()
        .nth(2)
        .unwrap_or_else(|| panic!("one image: {list}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..8],
        ["1", "0", "image", "120", "40", "rgb", "3", "8"],
        "{list}"
    );
    assert_eq!(list.lines().count(), 3, "only one image: {list}");
    // The text is still all there.
    assert!(pdftotext(&bytes, "logo-text", &[]).contains("mise en demeure"));
}
