//! Reusable pieces of the portal's UI.

pub mod confirm;
pub mod ui;
