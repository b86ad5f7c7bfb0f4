//! Amounts, currencies, statutory late interest and recovery fees.
