//! relance collects unpaid invoices for companies, under their own brand.
//!
//! The crate is one module per concept of the domain (see `README.md`):
//! the arithmetic of time and money, the scenario language and its checker,
//! the pure engine that moves a case through a scenario, and the simulator
//! that drives the engine in virtual time.

pub mod api;
pub mod calendar;
pub mod channels;
pub mod cli;
pub mod config;
pub mod engine;
pub mod import;
pub mod money;
pub mod rules;
pub mod runtime;
pub mod scenario;
pub mod simulate;
pub mod store;
pub mod templates;
