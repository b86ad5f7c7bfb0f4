//! Business days, public holidays, sending windows and durations.
