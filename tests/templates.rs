//! The shipped templates, the checker and the locale helpers, as a template author sees them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use relance::templates::{TemplateError, TemplateStore, sample_context};
use serde_json::json;

/// Every template name a collector sends, in every shipped language.
const NAMES: &[&str] = &[
    "reminder_letter",
    "invoice_copy",
    "followup_email",
    "dispute_reply",
    "duplicate_invoice_email",
    "payment_plan_confirmation",
    "contact_message",
    "reminder_message",
    "formal_notice_registered",
    "formal_notice",
    "sms_contact",
    "sms_reminder",
    "fax",
    "phone_script",
    "courtesy_email",
    "reminder_email",
    "reminder_email_2",
    "handover_notice",
    "promise_confirmation",
    "insurer_claim",
];

const LANGUAGES: &[&str] = &["fr", "en", "es"];

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn shipped() -> TemplateStore {
    match TemplateStore::load(&shipped_dir()) {
        Ok(store) => store,
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            panic!("the shipped templates do not load:\n{}", lines.join("\n"));
        }
    }
}

/// A fresh folder of template files for one test, removed when dropped.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("templates-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().expect("a fixture file is in a folder"))
                .expect("create the fixture folder");
            fs::write(&path, text).expect("write a fixture file");
        }
        Fixture { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

mod shipped {
    use super::*;

    #[test]
    fn every_message_kind_exists_in_every_language() {
        let store = shipped();
        assert_eq!(store.languages(), vec!["en", "es", "fr"]);
        for lang in LANGUAGES {
            for name in NAMES {
                assert!(store.has(lang, name), "{lang}/{name}.hbs is missing");
                let path = store
                    .path_of(lang, name)
                    .expect("a shipped template has a path");
                assert!(path.ends_with(format!("{lang}/{name}.hbs")));
            }
            assert_eq!(
                store.names(lang).len(),
                NAMES.len(),
                "unexpected templates in {lang}"
            );
        }
    }

    #[test]
    fn every_shipped_template_renders_in_strict_mode_with_the_sample_context() {
        let store = shipped();
        for lang in LANGUAGES {
            let ctx = sample_context(lang);
            for name in NAMES {
                let rendered = store
                    .render(lang, name, &ctx)
                    .unwrap_or_else(|e| panic!("{lang}/{name} does not render: {e}"));
                assert!(
                    !rendered.body.trim().is_empty(),
                    "{lang}/{name} renders empty"
                );
                assert!(
                    !rendered.body.contains("{{") && !rendered.body.contains("[object]"),
                    "{lang}/{name} leaks template syntax:\n{}",
                    rendered.body
                );
                if let Some(subject) = &rendered.subject {
                    assert!(!subject.is_empty() && !subject.contains('\n'));
                }
            }
        }
    }

    #[test]
    fn emails_carry_a_subject_and_letters_sms_and_scripts_do_not() {
        let store = shipped();
        for lang in LANGUAGES {
            let ctx = sample_context(lang);
            for name in NAMES {
                let rendered = store.render(lang, name, &ctx).expect("renders");
                let wants_subject = name.ends_with("_email")
                    || *name == "reminder_email_2"
                    || name.ends_with("_confirmation")
                    || *name == "dispute_reply";
                assert_eq!(
                    rendered.subject.is_some(),
                    wants_subject,
                    "{lang}/{name}: subject {:?}",
                    rendered.subject
                );
            }
        }
    }

    #[test]
    fn the_checker_finds_nothing_in_the_shipped_templates() {
        let diagnostics = shipped().check();
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert!(lines.is_empty(), "diagnostics:\n{}", lines.join("\n"));
    }

    #[test]
    fn no_shipped_template_names_our_product() {
        for lang in LANGUAGES {
            let dir = shipped_dir().join(lang);
            for entry in fs::read_dir(&dir).expect("a language folder") {
                let path = entry.expect("an entry").path();
                let text = fs::read_to_string(&path).expect("a template file");
                assert!(
                    !text.to_lowercase().contains("relance"),
                    "{} contains the word \"relance\"",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn rendered_messages_carry_the_client_brand() {
        let store = shipped();
        for lang in LANGUAGES {
            let ctx = sample_context(lang);
            let trade_name = ctx["brand"]["trade_name"].as_str().expect("a trade name");
            let legal_name = ctx["brand"]["legal_name"].as_str().expect("a legal name");
            for name in NAMES {
                let rendered = store.render(lang, name, &ctx).expect("renders");
                let all = format!("{:?} {}", rendered.subject, rendered.body);
                assert!(
                    all.contains(trade_name) || all.contains(legal_name),
                    "{lang}/{name} does not name the brand"
                );
            }
        }
    }

    #[test]
    fn sms_fit_in_two_segments() {
        let store = shipped();
        for lang in LANGUAGES {
            for name in ["sms_contact", "sms_reminder"] {
                let body = store
                    .render(lang, name, &sample_context(lang))
                    .expect("renders")
                    .body;
                let (units, limit) = match gsm7_septets(&body) {
                    Some(septets) => (septets, 306),
                    None => (body.encode_utf16().count(), 134),
                };
                assert!(
                    units <= limit,
                    "{lang}/{name} takes {units} of {limit}: {body}"
                );
                assert!(!body.contains('\n'), "{lang}/{name} spans several lines");
            }
        }
    }

    #[test]
    fn french_formal_notices_carry_the_statutory_wording_for_companies() {
        let store = shipped();
        let ctx = sample_context("fr");
        for name in ["formal_notice", "formal_notice_registered"] {
            let body = store.render("fr", name, &ctx).expect("renders").body;
            assert!(body.contains("mise en demeure"), "{name}");
            assert!(
                body.contains("article L441-10 du Code de commerce"),
                "{name}"
            );
            assert!(
                body.contains("indemnité forfaitaire pour frais de recouvrement de 40 €"),
                "{name}"
            );
            assert!(
                body.contains("1\u{202f}330,92\u{a0}€"),
                "{name}: the total due is stated"
            );
        }
    }

    #[test]
    fn french_notices_to_a_person_cite_the_legal_rate_instead_of_the_business_indemnity() {
        let store = shipped();
        let mut ctx = sample_context("fr");
        ctx["debtor"]["kind"] = json!("person");
        let body = store
            .render("fr", "formal_notice", &ctx)
            .expect("renders")
            .body;
        assert!(body.contains("article 1231-6 du Code civil"));
        assert!(!body.contains("L441-10"));
    }

    #[test]
    fn the_french_handover_notice_has_the_content_the_law_requires_of_agencies() {
        let store = shipped();
        let ctx = sample_context("fr");
        let body = store
            .render("fr", "handover_notice", &ctx)
            .expect("renders")
            .body;
        for needed in [
            "Cabinet Durand Recouvrement",
            "8 avenue Foch",
            "recouvrement amiable de créances pour le compte de tiers",
            "Lumen Éclairage SAS",
            "12 rue des Tanneurs",
            "F-2026-0107",
            "principal restant dû : 1\u{202f}234,56\u{a0}€",
            "intérêts de retard",
            "16,36\u{a0}€",
            "80,00\u{a0}€",
            "total à régler : 1\u{202f}330,92\u{a0}€",
            "FR76 3000 6000 0112 3456 7890 189",
            "article L111-8",
            "restent à la charge du créancier",
            "débiteur de mauvaise foi",
        ] {
            assert!(
                body.contains(needed),
                "handover_notice lacks {needed:?}:\n{body}"
            );
        }
    }

    #[test]
    fn a_template_that_requires_a_part_fails_clearly_without_it() {
        let store = shipped();
        let mut ctx = sample_context("en");
        ctx.as_object_mut().expect("an object").remove("agent");
        let err = store
            .render("en", "handover_notice", &ctx)
            .expect_err("no agent, no notice");
        let TemplateError::Render {
            file,
            message,
            line,
            ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert!(file.ends_with("en/handover_notice.hbs"));
        assert_eq!(*line, 1);
        assert!(message.contains("`agent`"), "{message}");
    }

    #[test]
    fn optional_parts_are_left_out_when_absent() {
        let store = shipped();
        let mut ctx = sample_context("fr");
        let map = ctx.as_object_mut().expect("an object");
        for optional in ["promise", "plan", "dispute", "agent"] {
            map.remove(optional);
        }
        let body = store
            .render("fr", "phone_script", &ctx)
            .expect("renders")
            .body;
        assert!(!body.contains("Engagement en cours"));
        assert!(!body.contains("Réclamation déclarée"));
        store
            .render("fr", "insurer_claim", &ctx)
            .expect("renders without promise or dispute");
    }
}

mod rendering {
    use super::*;

    #[test]
    fn a_missing_field_fails_in_strict_mode_with_the_file_line_and_column() {
        let fixture = Fixture::new(&[(
            "en/hello.hbs",
            "subject: Hello {{debtor.name}}\n\nDear {{debtor.name}},\n  you owe {{case.balance}}.\n",
        )]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let mut ctx = sample_context("en");
        ctx["case"]
            .as_object_mut()
            .expect("an object")
            .remove("balance");

        let err = store
            .render("en", "hello", &ctx)
            .expect_err("balance is missing");
        let TemplateError::Render {
            file,
            line,
            column,
            message,
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!(file, &fixture.path("en/hello.hbs"));
        assert_eq!((*line, *column), (4, 11));
        assert!(
            message.contains("case.balance") && message.contains("strict"),
            "{message}"
        );
        assert!(err.to_string().contains("hello.hbs:4:11"), "{err}");
    }

    #[test]
    fn the_subject_is_rendered_on_one_line_and_the_body_tidied() {
        let fixture = Fixture::new(&[(
            "fr/note.hbs",
            "subject:   Dossier {{case.reference}}  \n\nBonjour,   \n\n\n\n{{#if promise}}\nPromesse.\n{{/if}}\nFin.\n\n",
        )]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let rendered = store
            .render("fr", "note", &sample_context("fr"))
            .expect("renders");
        assert_eq!(rendered.subject.as_deref(), Some("Dossier LUM-2026-0042"));
        assert_eq!(rendered.body, "Bonjour,\n\nPromesse.\nFin.");
    }

    #[test]
    fn values_are_written_as_they_are_not_html_escaped() {
        let fixture = Fixture::new(&[("en/name.hbs", "{{debtor.name}}")]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let mut ctx = sample_context("en");
        ctx["debtor"]["name"] = json!("Smith & Sons <Ltd> 'UK'");
        let rendered = store.render("en", "name", &ctx).expect("renders");
        assert_eq!(rendered.body, "Smith & Sons <Ltd> 'UK'");
    }

    #[test]
    fn the_render_language_drives_the_helpers_whatever_the_context_says() {
        let fixture = Fixture::new(&[
            ("fr/amount.hbs", "{{money case.balance case.currency}}"),
            ("en/amount.hbs", "{{money case.balance case.currency}}"),
        ]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let ctx = sample_context("fr");
        assert_eq!(
            store.render("fr", "amount", &ctx).expect("fr").body,
            "1\u{202f}234,56\u{a0}€"
        );
        assert_eq!(
            store.render("en", "amount", &ctx).expect("en").body,
            "€1,234.56"
        );
    }

    #[test]
    fn an_unknown_template_is_reported_with_the_closest_name() {
        let store = shipped();
        let err = store
            .render("fr", "reminder_emial", &sample_context("fr"))
            .expect_err("no such template");
        assert!(matches!(err, TemplateError::UnknownTemplate { .. }));
        assert!(
            err.to_string().contains("did you mean `reminder_email`"),
            "{err}"
        );
        let err = store
            .render("de", "reminder_email", &sample_context("fr"))
            .expect_err("no de");
        assert!(err.to_string().contains("language `de`"), "{err}");
    }

    #[test]
    fn a_helper_given_a_bad_amount_names_the_helper_and_the_value() {
        let fixture = Fixture::new(&[(
            "en/bad.hbs",
            "Total:\n{{money case.reference case.currency}}\n",
        )]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let err = store
            .render("en", "bad", &sample_context("en"))
            .expect_err("not an amount");
        let TemplateError::Render {
            line,
            column,
            message,
            ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!((*line, *column), (2, 1));
        assert!(
            message.contains("`money`") && message.contains("LUM-2026-0042"),
            "{message}"
        );
    }

    #[test]
    fn an_error_inside_a_partial_names_the_partial_file() {
        let fixture = Fixture::new(&[
            (
                "fr/_total.hbs",
                "Total :\n{{money case.total case.currency}}\n",
            ),
            ("fr/note.hbs", "Bonjour\n{{> total}}\n"),
        ]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        let err = store
            .render("fr", "note", &sample_context("fr"))
            .expect_err("no case.total");
        let TemplateError::Render {
            file, line, column, ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!(file, &fixture.path("fr/_total.hbs"));
        assert_eq!((*line, *column), (2, 1));
    }

    #[test]
    fn a_store_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<TemplateStore>();
    }

    #[test]
    fn partials_are_shared_within_a_language() {
        let fixture = Fixture::new(&[
            ("en/_sign.hbs", "-- {{brand.legal_name}}\n"),
            ("en/note.hbs", "Hello\n{{> sign}}\n"),
        ]);
        let store = TemplateStore::load(&fixture.dir).expect("loads");
        assert_eq!(store.names("en"), vec!["note"]);
        let rendered = store
            .render("en", "note", &sample_context("en"))
            .expect("renders");
        assert_eq!(rendered.body, "Hello\n-- Lumen Lighting Ltd");
    }
}

mod checking {
    use super::*;

    fn diagnostics_of(
        files: &[(&str, &str)],
    ) -> (Fixture, Vec<relance::templates::TemplateDiagnostic>) {
        let fixture = Fixture::new(files);
        let store = TemplateStore::load(&fixture.dir).unwrap_or_else(|d| panic!("loads: {d:?}"));
        let diagnostics = store.check();
        (fixture, diagnostics)
    }

    #[test]
    fn a_field_the_scope_lacks_is_reported_at_its_exact_line_and_column() {
        let (fixture, diagnostics) = diagnostics_of(&[(
            "fr/shoes.hbs",
            "subject: Pointure\n\nBonjour {{debtor.name}},\nvotre pointure : {{debtor.shoe_size}}.\n",
        )]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let d = &diagnostics[0];
        assert_eq!(d.file, fixture.path("fr/shoes.hbs"));
        assert_eq!((d.line, d.column), (4, 20));
        assert!(!d.is_warning);
        assert!(d.message.contains("debtor.shoe_size"), "{}", d.message);
    }

    #[test]
    fn uses_in_the_subject_and_in_helper_parameters_are_placed_exactly() {
        let (_fixture, diagnostics) = diagnostics_of(&[(
            "en/x.hbs",
            "subject:  Case {{case.refrence}}\n\nDue: {{money case.balance case.curency}} on {{date (add_days today case.delay) \"long\"}}\n",
        )]);
        let places: Vec<(usize, usize)> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(places, vec![(1, 18), (3, 27), (3, 68)], "{diagnostics:?}");
        assert!(diagnostics[0].message.contains("did you mean `reference`"));
        assert!(diagnostics[1].message.contains("did you mean `currency`"));
    }

    #[test]
    fn each_with_this_index_and_parent_paths_follow_the_context() {
        let (_fixture, diagnostics) = diagnostics_of(&[(
            "en/list.hbs",
            concat!(
                "{{#each invoices}}\n",
                "{{@index}} {{number}} {{this.due}} {{../case.reference}} {{@root.lang}} {{colour}}\n",
                "{{/each}}\n",
                "{{#each invoices as |inv i|}}{{inv.number}} {{i}} {{inv.size}}{{/each}}\n",
                "{{#with debtor.address}}{{city}} {{@index}} {{zip}}{{/with}}\n",
                "{{number}} {{../lang}}\n",
            ),
        )]);
        let found: Vec<(usize, usize, bool)> = diagnostics
            .iter()
            .map(|d| (d.line, d.column, d.is_warning))
            .collect();
        assert_eq!(
            found,
            vec![
                (2, 75, false), // colour: invoices have no such field
                (4, 53, false), // inv.size
                (5, 36, false), // @index outside #each
                (5, 47, false), // zip: the address has no such field
                (6, 3, false),  // number outside #each
                (6, 14, false), // ../ above the top
            ],
            "{diagnostics:#?}"
        );
    }

    #[test]
    fn optional_parts_used_without_a_guard_are_warned_about() {
        let (_fixture, diagnostics) = diagnostics_of(&[(
            "en/promise.hbs",
            concat!(
                "{{promise.date}}\n",
                "{{#if promise}}{{promise.date}}{{else if plan}}{{plan.instalments.0.date}}{{/if}}\n",
                "{{#with dispute}}{{reason}}{{/with}}\n",
                "{{default agent.name \"-\"}}\n",
            ),
        )]);
        let found: Vec<(usize, usize, bool)> = diagnostics
            .iter()
            .map(|d| (d.line, d.column, d.is_warning))
            .collect();
        assert_eq!(found, vec![(1, 3, true), (3, 9, true)], "{diagnostics:#?}");
        assert!(diagnostics[0].message.contains("{{#if promise}}"));
    }

    #[test]
    fn a_requires_declaration_guards_the_whole_template() {
        let (fixture, diagnostics) = diagnostics_of(&[
            (
                "en/ok.hbs",
                "{{!-- requires: promise --}}\n{{promise.date}}\n",
            ),
            ("en/typo.hbs", "{{!-- requires: promis --}}\n"),
        ]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].file, fixture.path("en/typo.hbs"));
        assert!(diagnostics[0].message.contains("did you mean `promise`"));
    }

    #[test]
    fn unknown_helpers_partials_and_bad_helper_calls_are_reported() {
        let (_fixture, diagnostics) = diagnostics_of(&[(
            "en/helpers.hbs",
            concat!(
                "{{monney case.balance case.currency}}\n",
                "{{money case.balance}}\n",
                "{{money case.balance \"EURO\"}}\n",
                "{{date today \"medium\"}}\n",
                "{{> footer}}\n",
                "{{if promise}}\n",
                "{{#money case.balance case.currency}}x{{/money}}\n",
                "{{money case.balance case.currency plan=true}}\n",
            ),
        )]);
        let found: Vec<(usize, usize)> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(
            found,
            vec![
                (1, 3),
                (2, 3),
                (3, 22),
                (4, 14),
                (5, 5),
                (6, 3),
                (7, 4),
                (8, 36)
            ],
            "{diagnostics:#?}"
        );
        assert!(diagnostics[0].message.contains("did you mean `money`"));
        assert!(diagnostics.iter().all(|d| !d.is_warning));
    }

    #[test]
    fn partials_are_checked_where_they_are_included() {
        let (fixture, diagnostics) = diagnostics_of(&[
            ("en/_line.hbs", "{{number}} {{size}}\n"),
            ("en/list.hbs", "{{#each invoices}}\n{{> line}}\n{{/each}}\n"),
        ]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].file, fixture.path("en/_line.hbs"));
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (1, 14));
    }

    #[test]
    fn printing_a_whole_object_or_list_is_warned_about() {
        let (_fixture, diagnostics) = diagnostics_of(&[(
            "en/obj.hbs",
            "{{debtor}} {{brand.address}} {{join brand.address}}",
        )]);
        let found: Vec<(usize, usize, bool)> = diagnostics
            .iter()
            .map(|d| (d.line, d.column, d.is_warning))
            .collect();
        assert_eq!(found, vec![(1, 3, true), (1, 14, true)], "{diagnostics:#?}");
    }
}

mod loading {
    use super::*;

    #[test]
    fn every_syntax_error_is_reported_with_its_line_and_column() {
        let fixture = Fixture::new(&[
            ("en/one.hbs", "Hello\n{{#if case.balance}}\nunclosed\n"),
            ("en/two.hbs", "subject: Hi {{debtor.name\n\nbody\n"),
            ("fr/three.hbs", "a\nb {{#each invoices}}x{{/with}}\n"),
            ("fr/fine.hbs", "fine\n"),
        ]);
        let diagnostics = TemplateStore::load(&fixture.dir).expect_err("three broken files");
        let found: Vec<(PathBuf, usize, usize)> = diagnostics
            .iter()
            .map(|d| (d.file.clone(), d.line, d.column))
            .collect();
        assert_eq!(
            found,
            vec![
                (fixture.path("en/one.hbs"), 4, 1),
                (fixture.path("en/two.hbs"), 1, 26),
                (fixture.path("fr/three.hbs"), 2, 22),
            ],
            "{diagnostics:#?}"
        );
        assert!(
            diagnostics
                .iter()
                .all(|d| !d.is_warning && d.message.contains("compile"))
        );
    }

    #[test]
    fn a_subject_header_must_be_followed_by_a_blank_line() {
        let fixture = Fixture::new(&[("en/x.hbs", "subject: Hi\nDear customer\n")]);
        let diagnostics = TemplateStore::load(&fixture.dir).expect_err("no blank line");
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (2, 1));
        assert!(diagnostics[0].message.contains("blank line"));
    }

    #[test]
    fn misplaced_files_and_folders_are_reported() {
        let fixture = Fixture::new(&[
            ("loose.hbs", "x"),
            ("French/x.hbs", "x"),
            ("en/Bad-Name.hbs", "x"),
            ("en/notes.txt", "ignored"),
            ("README.md", "ignored"),
        ]);
        let diagnostics = TemplateStore::load(&fixture.dir).expect_err("three problems");
        let files: Vec<PathBuf> = diagnostics.iter().map(|d| d.file.clone()).collect();
        assert_eq!(
            files,
            vec![
                fixture.path("French"),
                fixture.path("en/Bad-Name.hbs"),
                fixture.path("loose.hbs")
            ]
        );
    }

    #[test]
    fn a_missing_folder_is_one_diagnostic() {
        let diagnostics = TemplateStore::load(Path::new("/nonexistent/templates/folder"))
            .expect_err("no such folder");
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].message.contains("cannot read"));
    }
}

/// The GSM 03.38 septets a text takes (escape characters count two), or `None` when it needs
/// UCS-2.
fn gsm7_septets(text: &str) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€\u{c}";
    text.chars().try_fold(0, |count, c| {
        if BASIC.contains(c) {
            Some(count + 1)
        } else if EXTENDED.contains(c) {
            Some(count + 2)
        } else {
            None
        }
    })
}

mod robustness {
    use proptest::prelude::*;

    use super::*;

    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{#if ",
        "{{/if}}",
        "{{else}}",
        "{{else if ",
        "{{#each ",
        "{{/each}}",
        "{{#with ",
        "{{/with}}",
        "{{> ",
        "{{!-- x --}}",
        "case.balance",
        "invoices",
        "this",
        "@index",
        "../",
        "@root.lang",
        "money ",
        "date ",
        "(",
        ")",
        " ",
        "\n",
        "\"long\"",
        "é",
        "plain=true",
        "as |a b|",
        "subject: ",
        "~",
        "\\{{",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn loading_checking_and_rendering_never_panic(
            picks in proptest::collection::vec(0..PIECES.len(), 0..40)
        ) {
            let text: String = picks.iter().map(|&i| PIECES[i]).collect();
            let fixture = Fixture::new(&[("en/any.hbs", text.as_str())]);
            if let Ok(store) = TemplateStore::load(&fixture.dir) {
                for d in store.check() {
                    prop_assert!(d.line >= 1 && d.column >= 1, "{d}");
                }
                let _ = store.render("en", "any", &sample_context("en"));
            }
        }
    }
}
