//! The simulator's behaviour: determinism, contract validity, lifecycle invariants, realistic
//! shares, the events of the 766 index, the agencies' PAR work and the index it gives, the
//! reorganisation's registry events, live mode, and publishing to a real nats-server.

mod contract;
mod determinism;
mod governance;
mod index766;
mod lifecycle;
mod live;
mod publishing;
mod realism;
mod registry;
mod sample;
mod support;
