//! Reusable pieces of the portal's UI.

pub mod confirm;
pub mod fhir_view;
pub mod ui;
