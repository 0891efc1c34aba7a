//! The portal's pages, one module per area.

pub mod admin;
pub mod break_glass_review;
pub mod emergency;
pub mod explorer;
pub mod home;
pub mod insurer;
pub mod patient;
pub mod pharmacy;
pub mod provider;
pub mod record;
pub mod twin;
pub mod twin_new;
pub mod wallet;
