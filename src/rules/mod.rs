//! The sandboxed Rhai engine that evaluates scenario conditions.
//!
//! A condition is one Rhai *expression* (no statements, no loops, no
//! functions, no `import`, no `eval`, no printing), compiled once per
//! scenario version and evaluated against [`Facts`]: the case, the debtor,
//! the client, the history and the scenario's variables. Every evaluation is
//! bounded in operations, depth and sizes, so a runaway condition ends in an
//! error instead of a hang. This module knows nothing of YAML, storage or
//! channels: callers turn its positions into file locations.

mod scope;

use std::cell::RefCell;
use std::collections::BTreeSet;

use rhai::{AST, ASTNode, Dynamic, Engine, EvalAltResult, ParseError, Position, Scope};

pub use scope::{
    CLIENT_FIELDS, DEBTOR_FIELDS, EVENT_FIELDS, FUNCTIONS, SCOPE_VARIABLES, ScopeFunction,
    ScopeVariable, suggest,
};

/// Most operations one evaluation may perform before it is stopped.
pub const MAX_OPERATIONS: u64 = 50_000;
/// Deepest nesting of expressions a condition may have.
pub const MAX_EXPR_DEPTH: usize = 48;
/// Longest string a condition may build, in bytes.
pub const MAX_STRING_SIZE: usize = 16 * 1024;
/// Largest array or map a condition may build.
pub const MAX_COLLECTION_SIZE: usize = 4096;

/// Standard Rhai functions a condition may not call: they block or read the
/// clock.
const FORBIDDEN_FUNCTIONS: &[&str] = &["sleep", "timestamp", "elapsed"];

/// A condition that does not compile or does not evaluate.
///
/// `line` and `column` are 1-based and relative to the expression's own text
/// (0 when Rhai gave no position); the scenario loader maps them into the
/// YAML file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// What is wrong, in words a scenario author understands.
    pub message: String,
    /// Line inside the expression, 1-based.
    pub line: usize,
    /// Column inside the expression, 1-based.
    pub column: usize,
}

impl RuleError {
    fn at(message: impl Into<String>, pos: Position) -> Self {
        RuleError {
            message: message.into(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
        }
    }

    fn from_parse(err: ParseError) -> Self {
        let pos = err.position();
        let message = match err.err_type() {
            rhai::ParseErrorType::VariableUndefined(name) => {
                let hint = scope::suggest(name, SCOPE_VARIABLES.iter().map(|v| v.name));
                format!("unknown variable `{name}`{hint}")
            }
            rhai::ParseErrorType::UnexpectedEOF => {
                "the expression is incomplete: something is missing at its end".to_string()
            }
            other => other.to_string(),
        };
        Self::at(message, pos)
    }

    fn from_eval(err: EvalAltResult) -> Self {
        let pos = err.position();
        let message = match err {
            EvalAltResult::ErrorTooManyOperations(..) => format!(
                "condition stopped after {MAX_OPERATIONS} operations: it does too much work"
            ),
            EvalAltResult::ErrorDataTooLarge(ref what, ..) => {
                format!("condition stopped: {what} is too large")
            }
            EvalAltResult::ErrorStackOverflow(..) => {
                "condition stopped: it nests too deeply".to_string()
            }
            ref other => other.to_string(),
        };
        Self::at(message, pos)
    }
}

/// A compiled condition or value expression.
#[derive(Clone, Debug)]
pub struct Expr {
    ast: AST,
    source: String,
}

impl Expr {
    /// The expression as the author wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// What the history functions (`sent`, `messages_in_last`, `bounced`) see.
///
/// Times are Unix seconds, so that the sandbox needs no clock of its own:
/// `now` is the engine's clock, passed in.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Ids of the steps that have sent something.
    pub sent: BTreeSet<String>,
    /// When each message to the debtor went out.
    pub messages: Vec<i64>,
    /// Channels on which a message bounced.
    pub bounced: BTreeSet<String>,
    /// The engine's clock.
    pub now: i64,
}

/// Everything a condition can read: the scope variables and the history.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Variables such as `balance`, `debtor`, `client`, `vars`, `event`.
    pub scope: Scope<'static>,
    /// What the history functions read.
    pub history: History,
}

thread_local! {
    /// The history of the evaluation running on this thread. Rhai's native
    /// functions cannot see the caller's scope, so `Rules::eval` lends the
    /// facts' history here for the length of one evaluation.
    static HISTORY: RefCell<History> = RefCell::new(History::default());
}

fn with_history<T>(f: impl FnOnce(&History) -> T) -> T {
    HISTORY.with(|h| f(&h.borrow()))
}

/// The sandboxed engine. Build it once and share it (it is `Send + Sync`).
pub struct Rules {
    engine: Engine,
    known_functions: BTreeSet<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

impl Rules {
    /// A sandboxed engine with the condition functions registered.
    pub fn new() -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(MAX_OPERATIONS)
            .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_EXPR_DEPTH)
            .set_max_call_levels(8)
            .set_max_string_size(MAX_STRING_SIZE)
            .set_max_array_size(MAX_COLLECTION_SIZE)
            .set_max_map_size(MAX_COLLECTION_SIZE)
            .set_strict_variables(true)
            .set_allow_looping(false)
            .set_allow_anonymous_fn(false)
            .set_allow_shadowing(false);
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        for symbol in [
            "eval", "print", "debug", "import", "export", "Fn", "call", "curry",
        ] {
            engine.disable_symbol(symbol);
        }

        engine.register_fn("sent", |step: &str| with_history(|h| h.sent.contains(step)));
        engine.register_fn("bounced", |channel: &str| {
            with_history(|h| h.bounced.contains(channel))
        });
        engine.register_fn("messages_in_last", |days: i64| {
            with_history(|h| {
                let since = h.now - days.max(0) * 86_400;
                h.messages
                    .iter()
                    .filter(|&&t| t > since && t <= h.now)
                    .count() as i64
            })
        });

        // `sleep` would hold an engine thread for as long as the condition
        // asks, and `timestamp` reads the wall clock: neither is bounded or
        // deterministic, so the checker treats them as unknown.
        let known_functions = engine
            .gen_fn_signatures(true)
            .iter()
            .filter_map(|sig| sig.split('(').next())
            .map(|name| name.trim().trim_start_matches("get$").to_string())
            .filter(|name| !FORBIDDEN_FUNCTIONS.contains(&name.as_str()))
            .collect();

        Rules {
            engine,
            known_functions,
        }
    }

    /// Compiles one expression, checking that every variable, field and
    /// function it names exists in the condition scope.
    ///
    /// `extra` names variables valid only where the expression sits (for
    /// example `event` inside an event handler).
    pub fn compile(&self, source: &str, extra: &[&str]) -> Result<Expr, Vec<RuleError>> {
        let scope = scope::declared_scope(extra);
        let ast = self
            .engine
            .compile_expression_with_scope(&scope, source)
            .map_err(|err| vec![RuleError::from_parse(err)])?;

        let problems = self.unknown_names(&ast, extra);
        if !problems.is_empty() {
            return Err(problems);
        }

        Ok(Expr {
            ast,
            source: source.to_string(),
        })
    }

    fn unknown_names(&self, ast: &AST, extra: &[&str]) -> Vec<RuleError> {
        let mut problems = Vec::new();
        ast.walk(&mut |path: &[ASTNode]| {
            let expr = match path.last() {
                Some(ASTNode::Expr(expr)) => *expr,
                Some(ASTNode::Stmt(rhai::Stmt::FnCall(call, pos))) => {
                    self.check_function(call, *pos, &mut problems);
                    return true;
                }
                _ => return true,
            };
            match expr {
                rhai::Expr::FnCall(call, pos) => self.check_function(call, *pos, &mut problems),
                rhai::Expr::MethodCall(call, pos) => self.check_function(call, *pos, &mut problems),
                rhai::Expr::Dot(dot, _, _) => {
                    if let (rhai::Expr::Variable(var, _, _), rhai::Expr::Property(prop, pos)) =
                        (&dot.lhs, &dot.rhs)
                    {
                        let object = var.1.as_str();
                        let field = prop.2.as_str();
                        if let Some(fields) = scope::fields_of(object, extra)
                            && !fields.contains(&field)
                        {
                            let hint = scope::suggest(field, fields.iter().copied());
                            problems.push(RuleError::at(
                                format!("`{object}` has no field `{field}`{hint}"),
                                *pos,
                            ));
                        }
                    }
                }
                _ => {}
            }
            true
        });
        problems
    }

    fn check_function(&self, call: &rhai::FnCallExpr, pos: Position, out: &mut Vec<RuleError>) {
        let name = call.name.as_str();
        if call.is_operator_call() || self.known_functions.contains(name) {
            return;
        }
        let hint = scope::suggest(name, FUNCTIONS.iter().map(|f| f.name));
        out.push(RuleError::at(
            format!("unknown function `{name}`{hint}"),
            pos,
        ));
    }

    /// Evaluates a condition; anything but a boolean result is an error.
    pub fn eval_bool(&self, expr: &Expr, facts: &mut Facts) -> Result<bool, RuleError> {
        let value = self.eval(expr, facts)?;
        value.as_bool().map_err(|kind| RuleError {
            message: format!("condition gave a {kind}, not true or false"),
            line: 1,
            column: 1,
        })
    }

    /// Evaluates an expression to any value (used by `set:`).
    pub fn eval(&self, expr: &Expr, facts: &mut Facts) -> Result<Dynamic, RuleError> {
        let lent = std::mem::take(&mut facts.history);
        HISTORY.with(|h| *h.borrow_mut() = lent);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut facts.scope, &expr.ast);
        facts.history = HISTORY.with(|h| std::mem::take(&mut *h.borrow_mut()));
        result.map_err(|err| RuleError::from_eval(*err))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn facts(balance: i64) -> Facts {
        let mut facts = Facts::default();
        facts.scope.push("balance", Decimal::from(balance));
        let mut debtor = rhai::Map::new();
        debtor.insert("kind".into(), "company".into());
        debtor.insert("mobile".into(), Dynamic::UNIT);
        facts.scope.push("debtor", debtor);
        facts
    }

    #[test]
    fn decimal_balance_compares_with_integer_and_decimal_literals() {
        let rules = Rules::new();
        let expr = rules
            .compile("balance >= 50 && balance < 99.5", &[])
            .unwrap();
        assert!(rules.eval_bool(&expr, &mut facts(60)).unwrap());
        assert!(!rules.eval_bool(&expr, &mut facts(100)).unwrap());
    }

    #[test]
    fn a_missing_contact_is_unit() {
        let rules = Rules::new();
        let expr = rules.compile("debtor.mobile != ()", &[]).unwrap();
        assert!(!rules.eval_bool(&expr, &mut facts(1)).unwrap());
    }

    #[test]
    fn unknown_variable_is_reported_at_its_column() {
        let rules = Rules::new();
        let errs = rules
            .compile("balance > 0 && balanse > 1", &[])
            .unwrap_err();
        assert_eq!(errs[0].column, 16, "{errs:?}");
        assert!(errs[0].message.contains("balanse"), "{errs:?}");
    }

    #[test]
    fn unknown_function_and_field_are_reported_with_suggestions() {
        let rules = Rules::new();
        let errs = rules.compile("snet(\"first\")", &[]).unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (1, 1));
        assert!(errs[0].message.contains("did you mean `sent`"), "{errs:?}");

        let errs = rules.compile("debtor.mobil != ()", &[]).unwrap_err();
        assert_eq!(errs[0].column, 8, "{errs:?}");
        assert!(errs[0].message.contains("`mobile`"), "{errs:?}");
    }

    #[test]
    fn history_functions_read_the_lent_history() {
        let rules = Rules::new();
        let mut f = facts(1);
        f.history.sent.insert("first".into());
        f.history.now = 10 * 86_400;
        f.history.messages = vec![86_400, 9 * 86_400, 10 * 86_400];
        let expr = rules
            .compile(
                "sent(\"first\") && !sent(\"second\") && messages_in_last(7) == 2",
                &[],
            )
            .unwrap();
        assert!(rules.eval_bool(&expr, &mut f).unwrap());
        assert!(f.history.sent.contains("first"), "history is given back");
    }

    #[test]
    fn statements_eval_and_printing_are_refused() {
        let rules = Rules::new();
        for src in [
            "let x = 1",
            "eval(\"1\")",
            "print(1)",
            "loop { }",
            "while true {}",
            "import \"x\"",
        ] {
            assert!(rules.compile(src, &[]).is_err(), "{src} must not compile");
        }
    }
}
