//! End-to-end tests: the real `parwatch` binary against a real `nats-server` spawned per test
//! on a free port, writing real Parquet and answering SQL through DataFusion over HTTP.

mod access;
mod access_hostile;
mod browser;
mod cluster;
mod cluster_faults;
mod dashboards;
mod errors;
mod faults;
mod first_start;
mod harness;
mod hostile;
mod http_hostile;
mod index_766;
mod index_766_demo;
mod index_766_lost;
mod index_766_page;
mod index_766_reconcile;
mod ingest;
mod ingest_hostile;
mod metrics;
mod migrate;
mod openapi;
mod par;
mod par_page;
mod pg;
mod publishers;
mod registry;
mod registry_page;
mod reports;
mod reports_page;
mod roles;
mod scope_leaks;
mod sql;
mod unknown_values;
