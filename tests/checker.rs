//! The scenario checker as an author meets it: every class of mistake gives a diagnostic at
//! the exact line and column of the mistake, with words that say what would be right.
//!
//! Columns are counted by hand in each test; the comment above an assertion says how.

use std::collections::BTreeSet;

use relance::rules::Rules;
use relance::scenario::{Diagnostic, Loaded, Severity, TemplateLookup, load_checked};

/// The templates an in-test folder would hold: `(language, name)` pairs.
struct Templates(BTreeSet<(String, String)>);

impl Templates {
    /// Every name exists in both `fr` and `en`.
    fn all(names: &[&str]) -> Self {
        let mut set = BTreeSet::new();
        for lang in ["fr", "en"] {
            for name in names {
                set.insert((lang.to_string(), name.to_string()));
            }
        }
        Templates(set)
    }
}

impl TemplateLookup for Templates {
    fn has_template(&self, lang: &str, name: &str) -> bool {
        self.0.contains(&(lang.to_string(), name.to_string()))
    }
}

fn templates() -> Templates {
    Templates::all(&["reminder", "notice", "ack"])
}

fn load_with(src: &str, templates: &Templates) -> Loaded {
    load_checked(&Rules::new(), "s.yaml", src, Some(templates))
}

fn load(src: &str) -> Loaded {
    load_with(src, &templates())
}

fn errors(loaded: &Loaded) -> Vec<&Diagnostic> {
    loaded.diagnostics.iter().filter(|d| d.is_error()).collect()
}

/// The one error of `src`; fails with every diagnostic when there is not exactly one.
fn the_error(src: &str) -> Diagnostic {
    let loaded = load(src);
    let errs = errors(&loaded);
    assert_eq!(
        errs.len(),
        1,
        "expected one error, got {:#?}",
        loaded.diagnostics
    );
    assert!(
        loaded.scenario.is_none(),
        "a scenario with an error must not load"
    );
    errs[0].clone()
}

fn assert_at(d: &Diagnostic, line: usize, column: usize, words: &[&str]) {
    assert_eq!(d.file, "s.yaml", "{d:?}");
    assert_eq!((d.line, d.column), (line, column), "{}", d.message);
    for w in words {
        assert!(d.message.contains(w), "`{w}` missing from: {}", d.message);
    }
}

/// A valid scenario: line 7 is the first step, line 8 its `at:`, line 9 its `send:`.
const HEAD: &str = "\
scenario: s
calendar: FR
languages: [fr, en]
stages:
  - id: main
    steps:
";

fn with_steps(steps: &str) -> String {
    format!("{HEAD}{steps}")
}

#[test]
fn the_valid_base_scenario_loads_without_diagnostics() {
    let src = with_steps(
        "      - id: first
        at: due + 5bd
        send: { channel: email, template: reminder }
",
    );
    let loaded = load(&src);
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    assert!(loaded.scenario.is_some());
}

mod yaml_and_keys {
    use super::*;

    #[test]
    fn a_yaml_syntax_error_names_its_place() {
        // The flow sequence opened on line 2 is never closed; the parser notices at the
        // start of line 3, where a block key appears inside it.
        let src = "scenario: s\nstages: [ { id: a }\nother: 1\n";
        let d = the_error(src);
        assert_eq!(d.line, 3, "{d:?}");
        assert!(d.column >= 1, "{d:?}");
        assert!(d.message.starts_with("invalid YAML"), "{}", d.message);
    }

    #[test]
    fn a_misspelt_top_level_key_suggests_the_right_one() {
        // `calender` is the key on line 2, column 1.
        let src = "scenario: s\ncalender: FR\nstages:\n  - id: main\n    steps:\n      - id: a\n";
        let d = the_error(src);
        assert_at(
            &d,
            2,
            1,
            &["unknown key `calender`", "did you mean `calendar`"],
        );
    }

    #[test]
    fn a_misspelt_stage_key_suggests_the_right_one() {
        // `  - descripton:` puts the key at column 5.
        let src =
            "scenario: s\nstages:\n  - descripton: x\n    id: main\n    steps:\n      - id: a\n";
        let d = the_error(src);
        assert_at(
            &d,
            3,
            5,
            &[
                "unknown key `descripton`",
                "a stage",
                "did you mean `description`",
            ],
        );
    }

    #[test]
    fn a_misspelt_step_key_sned_suggests_send() {
        // `        sned:` is indented 8: the key is at column 9 of line 8.
        let src = with_steps(
            "      - id: first
        sned: { channel: email, template: reminder }
",
        );
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            9,
            &["unknown key `sned`", "a step", "did you mean `send`"],
        );
    }

    #[test]
    fn a_misspelt_handler_key_suggests_the_right_one() {
        // `  payment.received: { when: balance <= 0, edn: paid }`: `{` is column 21, `edn`
        // starts at 3 + 18 + 2 + 20 = column 43.
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
on:
  payment.received: { when: balance <= 0, edn: paid }
",
        );
        let d = the_error(&src);
        assert_at(
            &d,
            10,
            43,
            &["unknown key `edn`", "handler", "did you mean `end`"],
        );
    }

    #[test]
    fn an_unknown_key_far_from_any_lists_the_allowed_ones() {
        let src = with_steps("      - id: first\n        zzzz: 1\n");
        let d = the_error(&src);
        assert_at(&d, 8, 9, &["unknown key `zzzz`", "expected one of", "send"]);
    }
}

mod durations {
    use super::*;

    #[test]
    fn a_bad_unit_in_at_points_inside_the_value() {
        // `        at: due + 5bx`: the value starts at column 13; `b` is its 8th character.
        let src = with_steps("      - id: first\n        at: due + 5bx\n");
        let d = the_error(&src);
        assert_at(&d, 8, 20, &["bad duration `5bx`", "`at`", "bx"]);
    }

    #[test]
    fn an_unknown_anchor_in_at_points_at_the_anchor() {
        let src = with_steps("      - id: first\n        at: deu + 5d\n");
        let d = the_error(&src);
        assert_at(&d, 8, 13, &["unknown anchor `deu`", "did you mean `due`"]);
    }

    #[test]
    fn a_number_without_unit_in_after_points_after_the_number() {
        // `        after: 7`: the value is at column 16, the missing unit right after it.
        let src = with_steps("      - id: first\n        after: 7\n");
        let d = the_error(&src);
        assert_at(&d, 8, 17, &["bad duration `7`", "`after`", "missing unit"]);
    }

    #[test]
    fn a_year_unit_in_a_wait_timeout_points_at_the_unit() {
        // `          timeout: 1y`: the value is at column 20, the unit `y` at 21.
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
        wait:
          event: agent.closed
          timeout: 1y
",
        );
        let d = the_error(&src);
        assert_at(&d, 11, 21, &["bad duration `1y`", "`timeout`"]);
    }
}

mod rhai_in_yaml {
    use super::*;

    // Rhai reports `balance >` as incomplete at the end of the text, one past its 9
    // characters: column 10 of the expression.

    #[test]
    fn a_condition_that_does_not_compile_points_inside_a_plain_scalar() {
        // `        when: balance >`: the value starts at column 15, so its 10th column is 24.
        let src = with_steps("      - id: first\n        when: balance >\n");
        let d = the_error(&src);
        assert_at(&d, 8, 24, &["in `when`"]);
    }

    #[test]
    fn a_condition_that_does_not_compile_points_inside_a_double_quoted_scalar() {
        // `        when: "balance >"`: the quote is at column 15, the text starts at 16.
        let src = with_steps("      - id: first\n        when: \"balance >\"\n");
        let d = the_error(&src);
        assert_at(&d, 8, 25, &["in `when`"]);
    }

    #[test]
    fn a_condition_that_does_not_compile_points_inside_a_single_quoted_scalar() {
        let src = with_steps("      - id: first\n        when: 'balance >'\n");
        let d = the_error(&src);
        assert_at(&d, 8, 25, &["in `when`"]);
    }

    #[test]
    fn escapes_in_a_quoted_scalar_are_counted_as_written() {
        // `        when: "debtor.kind == \"company\" && balanse > 0"`: the value's text
        // starts at column 16; 28 characters of text come before `balanse`, and the two
        // backslashes among them push it to column 16 + 28 + 2 = 46.
        let src = with_steps(
            "      - id: first\n        when: \"debtor.kind == \\\"company\\\" && balanse > 0\"\n",
        );
        let d = the_error(&src);
        assert_at(&d, 8, 46, &["unknown variable `balanse`"]);

        // `''` is one quote in a single-quoted scalar: 25 characters of text, 26 written,
        // come before `balanse`, at column 16 + 26 = 42.
        let src = with_steps(
            "      - id: first\n        when: 'debtor.kind == \"it''s\" && balanse > 0'\n",
        );
        let d = the_error(&src);
        assert_at(&d, 8, 42, &["unknown variable `balanse`"]);
    }

    #[test]
    fn a_condition_that_does_not_compile_points_inside_a_block_scalar() {
        // The block's text starts on line 9 at column 11.
        let src = with_steps("      - id: first\n        when: |\n          balance >\n");
        let d = the_error(&src);
        assert_at(&d, 9, 20, &["in `when`"]);
    }

    #[test]
    fn a_mistake_on_the_second_line_of_a_block_scalar_points_at_that_line() {
        // `balanse` is on the block's second line, indented to column 11 + 2.
        let src = with_steps(
            "      - id: first
        when: |
          balance > 0 &&
            balanse > 1
",
        );
        let d = the_error(&src);
        assert_at(
            &d,
            10,
            13,
            &["unknown variable `balanse`", "did you mean `balance`"],
        );
    }

    #[test]
    fn an_unknown_variable_suggests_the_scope_variable() {
        // `        when: balance > 0 && balanse > 1`: `balanse` is 16th in a value at 15.
        let src = with_steps("      - id: first\n        when: balance > 0 && balanse > 1\n");
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            30,
            &["unknown variable `balanse`", "did you mean `balance`"],
        );
    }

    #[test]
    fn an_unknown_function_suggests_the_scope_function() {
        // `        when: snet("first")`: the call is at the start of the value, column 15.
        let src = with_steps("      - id: first\n        when: snet(\"first\")\n");
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            15,
            &["unknown function `snet`", "did you mean `sent`"],
        );
    }

    #[test]
    fn an_unknown_field_suggests_the_debtor_field() {
        // `        when: debtor.mobil != ()`: `mobil` is the 8th character, column 22.
        let src = with_steps("      - id: first\n        when: debtor.mobil != ()\n");
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            22,
            &["`debtor` has no field `mobil`", "did you mean `mobile`"],
        );
    }

    #[test]
    fn event_fields_are_known_in_handlers_only() {
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
on:
  message.bounced: { when: event.chanel == \"email\", end: paid }
",
        );
        let d = the_error(&src);
        assert_at(
            &d,
            10,
            34,
            &["`event` has no field `chanel`", "did you mean `channel`"],
        );

        let src = with_steps("      - id: first\n        when: event.channel == \"email\"\n");
        let d = the_error(&src);
        assert_at(&d, 8, 15, &["unknown variable `event`"]);
    }
}

mod cross_checks {
    use super::*;

    #[test]
    fn a_duplicate_step_id_names_the_first_definition() {
        // The second `- id: first` is on line 9; the step mapping starts after `- `.
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
      - id: first
        send: { channel: email, template: notice }
",
        );
        let d = the_error(&src);
        assert_at(&d, 9, 9, &["duplicate step id `first`", "line 7"]);
    }

    #[test]
    fn a_goto_to_a_missing_step_suggests_the_closest() {
        // `        goto: secnd` puts the target at column 15.
        let src = with_steps(
            "      - id: first
        goto: secnd
      - id: second
        send: { channel: email, template: reminder }
",
        );
        let d = the_error(&src);
        assert_at(&d, 8, 15, &["`goto`", "`secnd`", "did you mean `second`"]);
    }

    #[test]
    fn a_template_missing_in_one_language_names_that_language() {
        // The template value of `        send: { channel: email, template: reminder }` is at
        // 8 + 34 + 1 = column 43.
        let mut only_fr = Templates::all(&[]);
        only_fr.0.insert(("fr".into(), "reminder".into()));
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
",
        );
        let loaded = load_with(&src, &only_fr);
        let errs = errors(&loaded);
        assert_eq!(errs.len(), 1, "{:#?}", loaded.diagnostics);
        assert_at(
            errs[0],
            8,
            43,
            &["template `reminder`", "does not exist in en"],
        );
        assert!(
            errs[0].message.contains("does not exist in en ("),
            "only the missing language is named: {}",
            errs[0].message
        );
    }

    #[test]
    fn without_a_template_folder_template_names_are_not_checked() {
        let src =
            with_steps("      - id: first\n        send: { channel: email, template: nowhere }\n");
        let loaded = load_checked(&Rules::new(), "s.yaml", &src, None);
        assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    }

    #[test]
    fn an_unknown_channel_suggests_the_closest() {
        // `        send: { channel: emial, ... }`: `channel: ` ends at column 25.
        let src =
            with_steps("      - id: first\n        send: { channel: emial, template: reminder }\n");
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            26,
            &["unknown channel `emial`", "did you mean `email`"],
        );
    }

    #[test]
    fn an_unknown_event_in_on_suggests_the_closest() {
        let src = with_steps(
            "      - id: first
        send: { channel: email, template: reminder }
on:
  paymnet.received: { end: paid }
",
        );
        let d = the_error(&src);
        assert_at(
            &d,
            10,
            3,
            &[
                "unknown event `paymnet.received`",
                "did you mean `payment.received`",
            ],
        );
    }

    #[test]
    fn an_unknown_outcome_in_end_lists_the_outcomes() {
        // `        end: payed`: the value is at column 14.
        let src = with_steps("      - id: first\n        end: payed\n");
        let d = the_error(&src);
        assert_at(
            &d,
            8,
            14,
            &[
                "unknown outcome `payed`",
                "did you mean `paid`",
                "written_off",
            ],
        );
    }

    #[test]
    fn an_unreachable_step_is_a_warning_and_the_scenario_still_loads() {
        // `      - id: never` is line 9; the step mapping starts at column 9.
        let src = with_steps(
            "      - id: first
        end: paid
      - id: never
        send: { channel: email, template: reminder }
",
        );
        let loaded = load(&src);
        assert!(errors(&loaded).is_empty(), "{:#?}", loaded.diagnostics);
        assert_eq!(loaded.diagnostics.len(), 1, "{:#?}", loaded.diagnostics);
        let d = &loaded.diagnostics[0];
        assert_eq!(d.severity, Severity::Warning);
        assert_at(d, 9, 9, &["step `never` is unreachable"]);
        assert!(
            loaded.scenario.is_some(),
            "a warning does not stop the scenario"
        );
    }

    #[test]
    fn a_step_jumped_to_is_reachable_after_an_end() {
        let src = with_steps(
            "      - id: first
        goto: third
      - id: second
        end: paid
      - id: third
        send: { channel: email, template: reminder }
",
        );
        let loaded = load(&src);
        let warnings: Vec<&str> = loaded
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`second`"), "{warnings:?}");
    }

    #[test]
    fn set_on_an_undeclared_variable_is_an_error_at_its_expression() {
        // `        set: { reminders: "1" }`: 8 + 18 characters before the quoted expression,
        // which starts at column 27 of line 10.
        let src = "\
scenario: s
variables:
  remindersx: 0
calendar: FR
languages: [fr, en]
stages:
  - id: main
    steps:
      - id: first
        set: { reminders: \"1\" }
";
        let d = the_error(src);
        assert_at(
            &d,
            10,
            27,
            &[
                "`set` changes `reminders`",
                "does not declare",
                "did you mean `remindersx`",
            ],
        );
    }
}

/// Mistakes in single values and cross-step mistakes (a `goto` to nowhere, a missing
/// template) are all reported in one run, in file order.
#[test]
fn all_errors_are_reported_at_once_in_file_order() {
    let src = with_steps(
        "      - id: first
        sned: { channel: email, template: reminder }
      - id: second
        at: due + 5bx
      - id: third
        when: balanse > 0
        send: { channel: emial, template: reminder }
      - id: fourth
        end: payed
      - id: fifth
        goto: nowhere
        send: { channel: email, template: missing }
",
    ) + "on:\n  paymnet.received: { end: paid }\n";
    let loaded = load(&src);
    let expected = [
        (8, 9, "`sned`"),
        (10, 20, "`5bx`"),
        (12, 15, "`balanse`"),
        (13, 26, "`emial`"),
        (15, 14, "`payed`"),
        (17, 15, "`nowhere`"),
        (18, 43, "`missing`"),
        (20, 3, "`paymnet.received`"),
    ];
    let errs = errors(&loaded);
    assert_eq!(errs.len(), expected.len(), "{:#?}", loaded.diagnostics);
    for (d, (line, column, word)) in errs.iter().zip(expected) {
        assert_at(d, line, column, &[word]);
    }
    assert!(loaded.scenario.is_none());
}

#[test]
fn five_different_errors_give_five_diagnostics() {
    let src = with_steps(
        "      - id: first
        sned: { channel: email, template: reminder }
      - id: second
        at: due + 5bx
      - id: third
        when: balanse > 0
      - id: fourth
        send: { channel: emial, template: reminder }
        end: payed
",
    );
    let loaded = load(&src);
    assert_eq!(errors(&loaded).len(), 5, "{:#?}", loaded.diagnostics);
}

mod render {
    use super::*;

    #[test]
    fn render_prints_file_line_column_the_source_line_and_a_caret() {
        let src = with_steps("      - id: first\n        at: due + 5bx\n");
        let d = the_error(&src);
        let text = d.render(Some(&src));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("s.yaml:8:20: error: bad duration `5bx`"),
            "{text}"
        );
        assert_eq!(lines[1], "8 |         at: due + 5bx");
        // The caret sits under the `b`: the gutter `8 | ` then 19 spaces.
        assert_eq!(lines[2], format!("  | {}^", " ".repeat(19)));
    }

    #[test]
    fn render_without_source_is_one_line_and_warnings_say_warning() {
        let d = Diagnostic::warning("a.yaml", 3, 4, "step `x` is unreachable");
        assert_eq!(
            d.render(None),
            "a.yaml:3:4: warning: step `x` is unreachable"
        );
        assert_eq!(d.to_string(), d.render(None));
    }

    #[test]
    fn render_keeps_tabs_so_the_caret_lines_up() {
        let d = Diagnostic::error("t.yaml", 1, 3, "bad");
        assert_eq!(
            d.render(Some("\tx y\n")),
            "t.yaml:1:3: error: bad\n1 | \tx y\n  | \t ^"
        );
    }
}
