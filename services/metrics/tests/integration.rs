//! Metric catalogue tests over a real lake: hand-checked values as golden files
//! (`tests/golden/*.golden`, see `golden.rs`), rollups equal to raw-event
//! SQL on a shuffled event set, plan and task metrics, the PAR Index of seed 003, and stored
//! values this build does not know, counted; the registry of agencies and restated figures;
//! the roles of an agency on a dossier.

mod common;
mod equivalence;
mod eviction;
mod golden;
mod governance;
mod history;
mod par_index;
mod registry;
mod roles;
mod unknown;
