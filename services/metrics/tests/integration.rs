//! Metric catalogue tests over a real lake: hand-checked values, and rollups equal to raw-event
//! SQL on a shuffled event set.

mod common;
mod equivalence;
mod hand_checked;
