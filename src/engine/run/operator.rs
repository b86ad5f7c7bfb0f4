//! An operator's actions on an instance: `operator.pause`,
//! `operator.resume`, `operator.skip` and `operator.close`.
//!
//! They reach the engine as events and are journaled, deterministic and
//! replayable like any other, but no scenario handler answers them: the
//! engine applies them itself, and the scenario checker refuses `on:` or
//! `wait:` for them. An action that does not fit the instance's state (a
//! pause of an ended case, a resume of a case that is not paused) is
//! journaled as an `error` entry and changes nothing else; the instance's
//! status stays what it was. This module never sends: a skipped step's
//! sends are not made, and a pause does not recall what is already in the
//! outbox.

use super::*;

impl Tx<'_, '_> {
    /// Applies an operator's action, or journals why it cannot be applied.
    pub(super) fn operator(&mut self, e: &Event) {
        let applied = match e.kind.as_str() {
            "operator.pause" => self.operator_pause(e),
            "operator.resume" => self.operator_resume(e),
            "operator.skip" => self.operator_skip(e),
            "operator.close" => self.operator_close(e),
            other => Err(format!("`{other}` is no operator action")),
        };
        if let Err(why) = applied {
            let at = self.inst.position;
            self.note(
                EntryKind::Error,
                at,
                format!("{} refused: {why}; nothing changed", e.kind),
            );
        }
    }

    /// The event as it came in, with what the operator said.
    fn journal_operator_event(&mut self, e: &Event) {
        let f = &e.fields;
        let mut detail = e.kind.clone();
        for (name, value) in [
            ("outcome", f.outcome.as_ref().map(ToString::to_string)),
            ("until", f.date.map(|d| d.to_string())),
            ("step", f.step.clone()),
            ("reason", f.reason.clone()),
        ] {
            if let Some(v) = value {
                detail.push_str(&format!(", {name} {v}"));
            }
        }
        let at = self.inst.position;
        self.note(EntryKind::Event, at, detail);
    }

    /// Why an ended or failed instance refuses `e`, if it does.
    fn over(&self) -> Option<String> {
        match self.inst.status {
            Status::Ended => Some(match self.inst.outcome {
                Some(outcome) => format!("the case has ended ({outcome})"),
                None => "the case has ended".into(),
            }),
            Status::Failed => Some("the case has failed: skip its step or close it".into()),
            Status::Running | Status::Waiting | Status::Paused => None,
        }
    }

    /// `operator.pause`: the instance stops where it is, until an
    /// `operator.resume` or, with a `date`, until the sending window opens
    /// on that date in the debtor's zone. Its step, its wait and their
    /// times are kept. A pause of a paused instance replaces the end of the
    /// pause it was in (a promise's pause included: a pause with no date
    /// then lasts until an operator resumes it).
    fn operator_pause(&mut self, e: &Event) -> Result<(), String> {
        if let Some(why) = self.over() {
            return Err(why);
        }
        let until = match e.fields.date {
            Some(date) => {
                let until = self.at_date(date);
                if until <= self.now {
                    return Err(format!(
                        "a pause until {date} would end at {}, which is not later than now",
                        self.local(until)
                    ));
                }
                Some(until)
            }
            None => None,
        };

        self.journal_operator_event(e);
        self.inst.status = Status::Paused;
        self.inst.paused_until = until;
        let detail = match until {
            Some(t) => format!("paused by an operator until {}", self.local(t)),
            None => "paused by an operator until an operator resumes".into(),
        };
        let at = self.inst.position;
        self.note(EntryKind::Pause, at, detail);
        Ok(())
    }

    /// `operator.resume`: a paused instance, whatever paused it (an
    /// operator, or a handler's `pause` or `pause_until`), goes on where it
    /// was. Its wake time is recomputed from now on the times it had: a
    /// step that fell due during the pause fires at once, and a wait whose
    /// timeout passed during the pause times out at once. A promise the
    /// pause was for stays recorded but is not judged kept or broken.
    fn operator_resume(&mut self, e: &Event) -> Result<(), String> {
        if self.inst.status != Status::Paused {
            return Err(format!(
                "the case is {}, not paused",
                self.inst.status.name()
            ));
        }

        self.journal_operator_event(e);
        self.unpause();
        let at = self.inst.position;
        self.note(EntryKind::Resume, at, "resumed by an operator".into());
        if self.inst.status == Status::Running && self.inst.position.is_none() {
            self.end(Outcome::Exhausted, "nothing left to do");
        }
        // TODO: a promise whose pause an operator ended early is never
        // judged kept or broken; it stays in the condition scope until the
        // next promise replaces it.
        Ok(())
    }

    /// `operator.skip`: the instance leaves its current step without
    /// running the step's actions (nothing is sent, charged, handed over
    /// or claimed), or leaves the wait it is in without running the wait's
    /// `on_timeout`, and goes on as if the step's time had come: to where
    /// the step leads (its `goto`, `end` or `pause`), otherwise to the next
    /// step, whose time counts from now. With a `step`, the skip applies
    /// only if that is the current step. A paused instance stays paused on
    /// its new step; a failed one runs again from its new step.
    fn operator_skip(&mut self, e: &Event) -> Result<(), String> {
        if self.inst.status == Status::Ended {
            return Err(self.over().unwrap_or_default());
        }
        let Some(at) = self.inst.position else {
            return Err("the case is on no step".into());
        };
        let sc = self.sc;
        let step = sc.step(at);
        if let Some(asked) = &e.fields.step
            && *asked != step.id
        {
            return Err(format!("the case is on step `{}`, not `{asked}`", step.id));
        }

        self.journal_operator_event(e);
        let paused = self.inst.status == Status::Paused;
        let wait = self.inst.wait.take();
        let waited = wait.is_some();
        let detail = match wait {
            Some(wait) => format!(
                "skipped by an operator: no longer waiting for {} on {}",
                wait.event, step.id
            ),
            None => format!("skipped by an operator: {} not run, nothing sent", step.id),
        };
        self.note(EntryKind::Skip, Some(at), detail);
        self.inst.last_step_at = self.now;
        self.inst.status = Status::Running;

        // A step in its wait has run already: its `wait` decided where it
        // leads, and it leads on to the next step.
        match (&step.flow, waited) {
            (Some(flow), false) => self.flow(flow, Some(at)),
            _ => self.advance(at),
        }
        if paused && self.inst.status == Status::Running {
            self.inst.status = Status::Paused;
        }
        Ok(())
    }

    /// `operator.close`: the instance ends with the outcome the operator
    /// gives (paid, settled, written_off or cancelled), whatever the
    /// balance, and its sends still waiting in the outbox are cancelled,
    /// as for any end. Later events are journaled and change nothing.
    fn operator_close(&mut self, e: &Event) -> Result<(), String> {
        let outcome = e.close_outcome().map_err(|err| err.to_string())?;
        if self.inst.status == Status::Ended {
            return Err(self.over().unwrap_or_default());
        }

        self.journal_operator_event(e);
        let why = match &e.fields.reason {
            Some(reason) => format!("closed by an operator: {reason}"),
            None => "closed by an operator".into(),
        };
        self.end(outcome, &why);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate};
    use chrono_tz::Europe::Paris;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::engine::event::EventFields;
    use crate::engine::{Client, Debtor, DebtorKind, Invoice, shared};
    use crate::money::Currency;
    use crate::rules::Rules;
    use crate::scenario::load_checked;

    /// Two reminders a week apart, a handover waiting 30 days for the
    /// agent (written off on timeout), then a letter.
    const OPS: &str = "\
scenario: ops
calendar: FR
languages: [fr]
stages:
  - id: main
    steps:
      - id: first
        at: due + 1d
        send: { channel: email, template: reminder_email }
      - id: second
        after: 7d
        send: { channel: email, template: reminder_email_2 }
      - id: handover
        after: 7d
        handover: { partner: agent_default }
        wait: { event: agent.closed, timeout: 30d, on_timeout: { end: written_off } }
      - id: letter
        after: 1d
        send: { channel: letter, template: reminder_letter }
on:
  promise.made:
    pause_until: promise.date
";

    fn scenario() -> Scenario {
        let loaded = load_checked(&Rules::new(), "ops.yaml", OPS, None);
        let problems: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        loaded
            .scenario
            .unwrap_or_else(|| panic!("the test scenario loads: {problems:#?}"))
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a test date")
    }

    /// Midnight of `s` in Paris.
    fn at(s: &str) -> DateTime<Utc> {
        Paris
            .from_local_datetime(&day(s).and_time(NaiveTime::MIN))
            .single()
            .expect("an unambiguous test time")
            .with_timezone(&Utc)
    }

    /// One invoice of 900 EUR due on 2026-03-02.
    fn case() -> Case {
        Case {
            id: "acme/D-1".into(),
            client: Client {
                id: "acme".into(),
                name: "ACME".into(),
                country: Some("FR".into()),
            },
            debtor: Debtor {
                id: "D-1".into(),
                kind: DebtorKind::Company,
                name: "Martin".into(),
                country: Some("FR".into()),
                language: "fr".into(),
                timezone: Paris,
                email: Some("compta@example.org".into()),
                mobile: None,
                phone: None,
                fax: None,
                address: Some(crate::engine::Address {
                    lines: vec!["1 rue des Lilas".into()],
                    postcode: Some("69003".into()),
                    city: Some("Lyon".into()),
                    country: Some("FR".into()),
                }),
                siren: None,
                vat: None,
                risk: None,
                risk_score: None,
                credit_limit: None,
                watch: false,
            },
            invoices: vec![Invoice {
                number: "F-1".into(),
                issued: day("2026-02-01"),
                due: day("2026-03-02"),
                amount: dec!(900),
                currency: Currency::EUR,
                allocations: Vec::new(),
            }],
        }
    }

    fn op(kind: &str, when: DateTime<Utc>, fields: EventFields) -> Input {
        Input::Event(Event {
            id: None,
            kind: kind.into(),
            at: when,
            fields,
        })
    }

    fn started() -> Transition {
        shared()
            .start(&scenario(), case(), at("2026-02-01"))
            .expect("the case starts")
    }

    fn step(inst: &Instance, input: &Input, now: DateTime<Utc>) -> Transition {
        shared()
            .step(inst, &scenario(), input, now)
            .expect("the input is accepted")
    }

    fn current(inst: &Instance) -> String {
        let sc = scenario();
        inst.position
            .map(|p| sc.step(p).id.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_pause_stops_the_instance_with_no_wake_and_recalls_nothing() {
        let t = started();
        let now = at("2026-02-20");
        let input = op("operator.pause", now, EventFields::default());

        let p = step(&t.instance, &input, now);

        assert_eq!(p.instance.status, Status::Paused);
        assert_eq!(p.instance.next_wake, None);
        assert_eq!(current(&p.instance), "first");
        assert!(!p.cancel_pending, "a pause does not recall queued sends");
        assert!(p.actions.is_empty());
        let kinds: Vec<EntryKind> = p.journal.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EntryKind::Event, EntryKind::Pause]);
    }

    #[test]
    fn a_pause_with_a_date_wakes_on_that_date_and_resumes_by_itself() {
        let t = started();
        let now = at("2026-02-20");
        let fields = EventFields {
            date: Some(day("2026-04-01")),
            reason: Some("the debtor asked for time".into()),
            ..Default::default()
        };

        let p = step(&t.instance, &op("operator.pause", now, fields), now);
        assert_eq!(p.instance.next_wake, Some(at("2026-04-01")));
        assert!(p.journal[0].detail.contains("the debtor asked for time"));

        let w = step(&p.instance, &Input::Wake, at("2026-04-01"));
        assert_eq!(w.journal[0].kind, EntryKind::Resume);
        let sent: Vec<&str> = w.actions.iter().map(|a| a.step.as_str()).collect();
        assert_eq!(
            sent,
            ["first"],
            "the step that fell due meanwhile fires at once"
        );
        assert_eq!(current(&w.instance), "second");
    }

    #[test]
    fn a_pause_until_a_date_already_past_is_refused() {
        let t = started();
        let now = at("2026-02-20");
        let fields = EventFields {
            date: Some(day("2026-02-19")),
            ..Default::default()
        };

        let p = step(&t.instance, &op("operator.pause", now, fields), now);

        assert_eq!(p.instance, t.instance);
        assert_eq!(p.journal.len(), 1);
        assert_eq!(p.journal[0].kind, EntryKind::Error);
        assert!(
            p.journal[0].detail.contains("not later than now"),
            "{}",
            p.journal[0].detail
        );
    }

    #[test]
    fn pausing_an_ended_case_is_journaled_as_an_error_and_changes_nothing() {
        let t = started();
        let now = at("2026-02-20");
        let close = EventFields {
            outcome: Some("cancelled".into()),
            ..Default::default()
        };
        let closed = step(&t.instance, &op("operator.close", now, close), now).instance;

        let p = step(
            &closed,
            &op("operator.pause", now, EventFields::default()),
            now,
        );

        assert_eq!(p.instance, closed);
        assert!(p.actions.is_empty());
        assert_eq!(p.journal.len(), 1);
        assert_eq!(p.journal[0].kind, EntryKind::Error);
        assert!(
            p.journal[0].detail.contains("ended (cancelled)"),
            "{}",
            p.journal[0].detail
        );
    }

    #[test]
    fn resuming_a_case_that_is_not_paused_is_refused() {
        let t = started();
        let now = at("2026-02-20");

        let r = step(
            &t.instance,
            &op("operator.resume", now, EventFields::default()),
            now,
        );

        assert_eq!(r.instance, t.instance);
        assert_eq!(r.journal[0].kind, EntryKind::Error);
        assert!(r.journal[0].detail.contains("running, not paused"));
    }

    #[test]
    fn resume_fires_at_once_a_step_that_fell_due_during_the_pause() {
        let t = started();
        let p = step(
            &t.instance,
            &op("operator.pause", at("2026-02-20"), EventFields::default()),
            at("2026-02-20"),
        );
        let now = at("2026-03-20");

        let r = step(
            &p.instance,
            &op("operator.resume", now, EventFields::default()),
            now,
        );

        let sent: Vec<(&str, DateTime<Utc>)> =
            r.actions.iter().map(|a| (a.step.as_str(), a.at)).collect();
        assert_eq!(sent, [("first", now)]);
        assert_eq!(r.instance.status, Status::Running);
        assert_eq!(current(&r.instance), "second");
        assert_eq!(r.instance.next_wake, Some(now + Duration::days(7)));
    }

    /// The instance in the handover's wait (timeout on 2026-04-17).
    fn waiting() -> Instance {
        let mut inst = started().instance;
        for _ in 0..3 {
            let wake = inst.next_wake.expect("a wake time");
            inst = step(&inst, &Input::Wake, wake).instance;
        }
        assert_eq!(inst.status, Status::Waiting);
        assert_eq!(current(&inst), "handover");
        inst
    }

    #[test]
    fn resume_times_out_at_once_a_wait_that_expired_during_the_pause() {
        let inst = waiting();
        let until = inst.wait.as_ref().map(|w| w.until).expect("a wait");
        let p = step(
            &inst,
            &op(
                "operator.pause",
                until - Duration::days(5),
                EventFields::default(),
            ),
            until - Duration::days(5),
        );
        assert_eq!(p.instance.status, Status::Paused);
        assert!(p.instance.wait.is_some(), "the wait is kept while paused");
        let now = until + Duration::days(10);

        let r = step(
            &p.instance,
            &op("operator.resume", now, EventFields::default()),
            now,
        );

        let kinds: Vec<EntryKind> = r.journal.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EntryKind::Event,
                EntryKind::Resume,
                EntryKind::Timeout,
                EntryKind::End
            ]
        );
        assert_eq!(r.instance.outcome, Some(Outcome::WrittenOff));
        assert!(r.journal.iter().all(|e| e.at == now));
    }

    #[test]
    fn a_promise_pause_during_a_wait_goes_back_to_the_wait_when_it_ends() {
        let inst = waiting();
        let now = inst.last_step_at + Duration::days(2);
        let promise = EventFields {
            date: Some(day("2026-04-01")),
            ..Default::default()
        };
        let p = step(&inst, &op("promise.made", now, promise), now);
        assert_eq!(p.instance.status, Status::Paused);

        let w = step(&p.instance, &Input::Wake, at("2026-04-01"));

        assert_eq!(w.instance.status, Status::Waiting);
        assert!(w.actions.is_empty(), "the handover is not made again");
        assert_eq!(current(&w.instance), "handover");
    }

    #[test]
    fn skip_leaves_the_current_step_without_sending_and_times_the_next_from_now() {
        let t = started();
        let now = at("2026-02-20");
        let fields = EventFields {
            step: Some("first".into()),
            ..Default::default()
        };

        let s = step(&t.instance, &op("operator.skip", now, fields), now);

        assert!(s.actions.is_empty());
        let skip = s
            .journal
            .iter()
            .find(|e| e.kind == EntryKind::Skip)
            .expect("a skip entry");
        assert_eq!(skip.step.as_deref(), Some("first"));
        assert_eq!(current(&s.instance), "second");
        assert_eq!(s.instance.next_wake, Some(now + Duration::days(7)));
        assert!(!s.instance.sent_steps.contains("first"));
    }

    #[test]
    fn skip_naming_another_step_than_the_current_one_is_refused() {
        let t = started();
        let now = at("2026-02-20");
        let fields = EventFields {
            step: Some("second".into()),
            ..Default::default()
        };

        let s = step(&t.instance, &op("operator.skip", now, fields), now);

        assert_eq!(s.instance, t.instance);
        assert_eq!(s.journal[0].kind, EntryKind::Error);
        assert!(
            s.journal[0]
                .detail
                .contains("on step `first`, not `second`"),
            "{}",
            s.journal[0].detail
        );
    }

    #[test]
    fn skipping_a_wait_goes_on_with_the_next_step_not_the_timeout() {
        let inst = waiting();
        let now = inst.last_step_at + Duration::days(3);

        let s = step(
            &inst,
            &op("operator.skip", now, EventFields::default()),
            now,
        );

        assert_eq!(s.instance.status, Status::Running);
        assert_eq!(s.instance.wait, None);
        assert_eq!(current(&s.instance), "letter");
        assert_eq!(s.instance.next_wake, Some(now + Duration::days(1)));
        assert!(s.journal.iter().any(|e| e.kind == EntryKind::Skip
            && e.step.as_deref() == Some("handover")
            && e.detail.contains("no longer waiting for agent.closed")));
    }

    #[test]
    fn skip_while_paused_moves_on_and_stays_paused() {
        let t = started();
        let now = at("2026-02-20");
        let p = step(
            &t.instance,
            &op("operator.pause", now, EventFields::default()),
            now,
        );

        let s = step(
            &p.instance,
            &op("operator.skip", now, EventFields::default()),
            now,
        );

        assert_eq!(s.instance.status, Status::Paused);
        assert_eq!(current(&s.instance), "second");
        assert_eq!(s.instance.next_wake, None);
    }

    #[test]
    fn close_ends_with_the_operators_outcome_and_cancels_pending_sends() {
        let t = started();
        let now = at("2026-02-20");
        let fields = EventFields {
            outcome: Some("settled".into()),
            reason: Some("agreement signed".into()),
            ..Default::default()
        };

        let c = step(&t.instance, &op("operator.close", now, fields), now);

        assert_eq!(c.instance.status, Status::Ended);
        assert_eq!(c.instance.outcome, Some(Outcome::Settled));
        assert_eq!(c.instance.next_wake, None);
        assert!(c.cancel_pending);
        let end = c.journal.last().expect("an end entry");
        assert_eq!(end.kind, EntryKind::End);
        assert!(
            end.detail
                .contains("settled (closed by an operator: agreement signed)")
        );

        let later = at("2026-03-01");
        let pay = EventFields {
            amount: Some(dec!(900)),
            ..Default::default()
        };
        let after = step(&c.instance, &op("payment.received", later, pay), later);
        assert_eq!(after.instance, c.instance);
    }
}
