//! The Rhai sandbox against hostile conditions: every attempt to loop, nest, grow, escape,
//! print, sleep or read the clock ends in an error, quickly, with words that say why.
//!
//! The time bound (2 s) is generous on purpose: it is a bound, not a benchmark.

use std::time::{Duration, Instant};

use relance::rules::{Facts, Rules};
use rust_decimal::Decimal;

const BOUND: Duration = Duration::from_secs(2);

/// The facts every condition can read, with plausible values.
fn facts() -> Facts {
    let mut facts = Facts::default();
    facts.scope.push("balance", Decimal::new(125_000, 2));
    facts.scope.push("currency", "EUR".to_string());
    facts.scope.push("days_overdue", 12_i64);
    let mut debtor = rhai::Map::new();
    debtor.insert("kind".into(), "company".into());
    debtor.insert("mobile".into(), rhai::Dynamic::UNIT);
    facts.scope.push("debtor", debtor);
    facts.scope.push("vars", rhai::Map::new());
    facts
}

/// Where a hostile condition was stopped.
#[derive(Debug)]
enum Stopped {
    AtCompile(String),
    AtEval(String),
}

impl Stopped {
    fn message(&self) -> &str {
        match self {
            Stopped::AtCompile(m) | Stopped::AtEval(m) => m,
        }
    }
}

/// Compiles and evaluates `src`; fails the test if it succeeds or takes too long.
fn stopped(src: &str) -> Stopped {
    let rules = Rules::new();
    let started = Instant::now();
    let outcome = match rules.compile(src, &[]) {
        Err(errors) => {
            assert!(!errors.is_empty());
            let text: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            Stopped::AtCompile(text.join("; "))
        }
        Ok(expr) => match rules.eval_bool(&expr, &mut facts()) {
            Ok(value) => panic!("`{}` evaluated to {value}", preview(src)),
            Err(err) => Stopped::AtEval(err.message),
        },
    };
    let elapsed = started.elapsed();
    assert!(elapsed < BOUND, "`{}` took {elapsed:?}", preview(src));
    assert!(!outcome.message().is_empty(), "{outcome:?}");
    outcome
}

fn preview(src: &str) -> String {
    src.chars().take(60).collect()
}

fn assert_compile_error(src: &str, words: &str) {
    match stopped(src) {
        Stopped::AtCompile(m) => assert!(m.contains(words), "`{src}`: {m}"),
        other => panic!("`{src}` must not compile, got {other:?}"),
    }
}

fn assert_eval_error(src: &str, words: &str) {
    match stopped(src) {
        Stopped::AtEval(m) => assert!(m.contains(words), "`{}`: {m}", preview(src)),
        other => panic!("`{}` must compile then fail, got {other:?}", preview(src)),
    }
}

#[test]
fn an_honest_condition_still_compiles_and_evaluates() {
    let rules = Rules::new();
    let expr = rules
        .compile(
            "balance >= 50 && debtor.mobile == () && days_overdue > 10",
            &[],
        )
        .unwrap();
    assert!(rules.eval_bool(&expr, &mut facts()).unwrap());
}

mod loops_and_functions {
    use super::*;

    #[test]
    fn loop_while_for_and_do_do_not_compile() {
        assert_compile_error("loop { }", "loop");
        assert_compile_error("while true { }", "while");
        assert_compile_error("for x in 0..10 { }", "for");
        assert_compile_error("do { } while true", "do");
    }

    #[test]
    fn closures_do_not_compile() {
        // A closure is a function definition in disguise.
        stopped_at_compile("|x| x + 1");
        stopped_at_compile("[1, 2].map(|x| x > 1).len() > 0");
        stopped_at_compile("range(0, 1000000000).reduce(|a, x| a + x, 0) > 0");
        stopped_at_compile("(0..1000000000).map(|x| x * 2).len() > 0");
    }

    fn stopped_at_compile(src: &str) {
        assert!(
            matches!(stopped(src), Stopped::AtCompile(_)),
            "`{src}` must not compile"
        );
    }

    #[test]
    fn function_definitions_and_calls_by_name_do_not_compile() {
        stopped_at_compile("fn f() { f() } f()");
        assert_compile_error("Fn(\"f\").call()", "Fn");
        assert_compile_error("call(\"f\")", "call");
        assert_compile_error("curry(\"f\")", "curry");
    }

    #[test]
    fn a_huge_range_has_nothing_to_iterate_it() {
        // Without loops or closures a range can only be asked cheap questions.
        assert_eval_error("(0..1000000000).len() > 0", "len");
    }
}

mod statements {
    use super::*;

    #[test]
    fn statements_do_not_compile() {
        for src in [
            "let x = 1; x",
            "const x = 1; x",
            "balance > 0; true",
            "{ true }",
            "balance = 5",
            "return true",
            "throw \"x\"",
        ] {
            assert!(
                matches!(stopped(src), Stopped::AtCompile(_)),
                "`{src}` must not compile"
            );
        }
    }

    #[test]
    fn eval_import_print_and_debug_are_disabled() {
        assert_compile_error("eval(\"true\")", "eval");
        assert_compile_error("import \"os\" as os", "import");
        assert_compile_error("print(\"hello\")", "print");
        assert_compile_error("debug(balance)", "debug");
        assert!(matches!(stopped("balance.debug()"), Stopped::AtCompile(_)));
    }

    #[test]
    fn sleep_and_the_wall_clock_are_unknown_functions() {
        // `sleep` would hold an engine thread; `timestamp` breaks determinism.
        assert_compile_error("sleep(1000)", "unknown function `sleep`");
        assert_compile_error("1000.sleep()", "unknown function `sleep`");
        assert_compile_error("timestamp().elapsed > 0", "unknown function `timestamp`");
    }

    #[test]
    fn unknown_methods_are_refused_at_compile_time() {
        assert_compile_error("balance.snet() == ()", "unknown function `snet`");
    }
}

mod nesting {
    use super::*;

    fn parens(depth: usize, inner: &str) -> String {
        format!("{}{inner}{}", "(".repeat(depth), ")".repeat(depth))
    }

    #[test]
    fn ten_thousand_parentheses_do_not_compile() {
        assert_compile_error(&format!("{} == 1", parens(10_000, "1")), "complexity");
    }

    #[test]
    fn ten_thousand_negations_do_not_compile() {
        let src = format!("{}true{}", "!(".repeat(10_000), ")".repeat(10_000));
        assert_compile_error(&src, "complexity");
    }

    #[test]
    fn ten_thousand_chained_additions_do_not_compile() {
        assert_compile_error(&format!("{}1 > 0", "1 + ".repeat(10_000)), "complexity");
    }

    #[test]
    fn ten_thousand_nested_arrays_do_not_compile() {
        let src = format!("{}{}.len() > 0", "[".repeat(10_000), "]".repeat(10_000));
        assert_compile_error(&src, "complexity");
    }

    #[test]
    fn nesting_within_the_limit_compiles_and_evaluates() {
        let rules = Rules::new();
        let expr = rules
            .compile(&format!("{} > 0", parens(15, "balance")), &[])
            .unwrap();
        let started = Instant::now();
        assert!(rules.eval_bool(&expr, &mut facts()).unwrap());
        assert!(started.elapsed() < BOUND);
    }
}

mod sizes {
    use super::*;

    #[test]
    fn padding_a_string_to_a_hundred_million_is_stopped() {
        assert_eval_error("\"x\".pad(100000000, \"y\") == \"\"", "too large");
        assert_eval_error("\"x\".pad(100000000, 'y') == \"\"", "too large");
    }

    #[test]
    fn repeated_concatenation_is_stopped_at_the_string_limit() {
        let chunk = format!("\"{}\"", "x".repeat(1_000));
        let src = format!("({}).len() > 0", vec![chunk; 40].join(" + "));
        assert_eval_error(&src, "too large");
    }

    #[test]
    fn a_huge_string_literal_is_refused() {
        let src = format!("\"{}\" == \"\"", "x".repeat(100_000));
        assert!(matches!(
            stopped(&src),
            Stopped::AtCompile(_) | Stopped::AtEval(_)
        ));
    }

    #[test]
    fn huge_arrays_are_stopped() {
        assert_eval_error("[1].pad(100000000, 0).len() > 0", "too large");
        let literal = format!("[{}].len() > 0", vec!["0"; 5_000].join(", "));
        assert!(matches!(
            stopped(&literal),
            Stopped::AtCompile(_) | Stopped::AtEval(_)
        ));
    }

    #[test]
    fn huge_maps_are_stopped() {
        let entries: Vec<String> = (0..5_000).map(|i| format!("k{i}: {i}")).collect();
        let src = format!("#{{{}}}.len() > 0", entries.join(", "));
        assert!(matches!(
            stopped(&src),
            Stopped::AtCompile(_) | Stopped::AtEval(_)
        ));
    }

    #[test]
    fn a_condition_that_is_not_a_boolean_is_an_error() {
        assert_eval_error("balance", "not true or false");
        assert_eval_error("\"yes\"", "not true or false");
    }
}
