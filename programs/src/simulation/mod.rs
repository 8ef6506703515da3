//! The simulation `simulate` runs: a modelled cluster (nodes, workload,
//! disturbances), its discrete-event engine driving the real library, the
//! latency statistics and the reports (table and SVG).
//!
//! Modules: `model` (what a scenario is made of), `scenarios` (the named
//! ones), `agent` (what each node's agent answers), `engine` (the event
//! loop and the routers), `stats` (latency summaries), `report` and `svg`
//! (the outputs).

pub mod agent;
pub mod engine;
pub mod model;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod svg;
