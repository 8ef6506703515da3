use std::time::Duration;

/// A backend's answer to a probe: how busy it is and how long it expects a
/// new request to take. The probing strategy
/// ([`Prequal`](crate::strategy::Prequal)) picks by these; a program sends
/// the probes (to the backend's agent port, or by any means it likes) and
/// hands each answer to [`Pool::apply_probe`](crate::Pool::apply_probe), as
/// it does agent replies.
///
/// ```
/// use pickwise::agent::ProbeReply;
/// use std::time::Duration;
///
/// let reply = ProbeReply::new(3, Duration::from_millis(12));
/// assert_eq!(reply.in_flight, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReply {
    /// Requests in flight at the backend, from every client: its own count,
    /// not one balancer's.
    pub in_flight: u32,
    /// The backend's estimate of the latency a request sent now would see
    /// (e.g. its recent latency at this load).
    pub latency: Duration,
}

impl ProbeReply {
    /// A reply of `in_flight` requests and a `latency` estimate.
    pub fn new(in_flight: u32, latency: Duration) -> Self {
        ProbeReply { in_flight, latency }
    }
}
