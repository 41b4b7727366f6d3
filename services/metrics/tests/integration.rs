//! Metric catalogue tests over a real lake: hand-checked values, rollups equal to raw-event
//! SQL on a shuffled event set, plan and task metrics, and the PAR Index of seed 003.

mod common;
mod equivalence;
mod governance;
mod hand_checked;
mod par_index;
