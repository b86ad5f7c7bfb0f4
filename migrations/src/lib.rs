//! Database migrations for relance (the durable store arrives with the runtime).
