//! The agent on each simulated node: what it answers when polled.
//!
//! It answers as the lab's worker does (`worker`):
//! `up ready NN%` with NN = max(1, 100 - 100 * in_flight / capacity). The
//! worker counts its open requests against a fixed `--capacity`; here
//! `in_flight` is the node's whole queue (serving + waiting) and the
//! capacity is a multiple of its cores, so a node that falls behind (a
//! slowed node piling up a queue) reports little capacity, while a node
//! merely busy at its normal rate still reports some.

use std::time::Duration;

/// How often the balancer polls every agent: the proxy's default
/// `--agent-interval-ms`.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// Requests in flight per core that the agent counts as full: 16, so the
/// lab's 4-core nodes count 64, the worker's default `--capacity`. A node
/// at its normal 70% (3 to 5 in flight) reports about 93%; a slowed node
/// whose queue passes 64 reports 1%. Why not fewer: the reply is a snapshot
/// held for a whole interval (560 requests at 1120 req/s), and with 1 or 4
/// per core the normal queue's swings already move the weights tenfold, so
/// every weight-following strategy herds onto whichever node was idle at
/// the last poll (measured, scenario (a): weighted round robin's p50 8.6 ms
/// became 95 ms at 1 per core and 89 ms at 4).
pub const FULL_PER_CORE: u32 = 16;

/// The reply of a node with `in_flight` requests (serving + queued) on
/// `cores` cores.
pub fn reply(in_flight: u32, cores: u32) -> String {
    let capacity = (cores * FULL_PER_CORE).max(1);
    let busy = (in_flight.saturating_mul(100) / capacity).min(100);
    format!("up ready {}%", (100 - busy).max(1))
}
