//! The simulator's behaviour: determinism, contract validity, lifecycle invariants, realistic
//! shares, live mode, and publishing to a real nats-server.

mod contract;
mod determinism;
mod lifecycle;
mod live;
mod publishing;
mod realism;
mod sample;
mod support;
