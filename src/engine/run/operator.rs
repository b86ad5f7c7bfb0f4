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
            return Err(format!("the case is {}, not paused", self.inst.status.name()));
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
