//! The command line's own helpers: progress bars and the validation report's plots. Native
//! only; on wasm32 (where only the library matters) progress is silent and plots are skipped.

pub mod plots;
pub mod progress;
