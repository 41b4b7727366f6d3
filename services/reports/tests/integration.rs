//! The reports crate against a real lake: a quarter of dossiers, plan work and PAR scores
//! written as Delta commits, read by a real projector, rendered, published to the lake's object
//! store, restated by late events, compacted, reproduced, compared and exported.

mod common;
mod exports;
mod lifecycle;
