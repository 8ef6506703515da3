//! HAProxy's rise/fall rule for one backend, as a pure state machine: no
//! sockets, no clock. The driver feeds it each check's result and apply
//! what it says.

use std::fmt;

/// One backend's rise/fall counter. It starts healthy (as HAProxy's
/// servers do): `fall` failures in a row take it out, then `rise` passes in
/// a row bring it back. Every result gives a [`Verdict`] that says whether
/// the pool should hear of it ([`Verdict::applies`]).
///
/// ```
/// use pickwise::health_check::{RiseFall, Verdict};
///
/// let mut backend = RiseFall::new(2, 3);
/// assert_eq!(backend.record(false), Verdict::Failing { count: 1, fall: 3 });
/// assert_eq!(backend.record(false), Verdict::Failing { count: 2, fall: 3 });
/// assert_eq!(backend.record(false), Verdict::WentDown { fall: 3 });
/// assert_eq!(backend.record(true), Verdict::Rising { count: 1, rise: 2 });
/// assert_eq!(backend.record(true), Verdict::CameUp { rise: 2 });
/// assert!(backend.is_healthy());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    healthy: bool,
    /// Results in a row against the current verdict: failures while
    /// healthy, passes while unhealthy.
    against: u32,
}

/// What one result did to a backend's rise/fall counter, and whether the
/// pool hears of it.
///
/// Applied ([`Pool::set_health`](crate::Pool::set_health)): every pass while
/// healthy (it keeps the status's last check current and ends a passive
/// ejection), the failure that takes the backend out, every failure while
/// out (the reason follows the cause: refused, then timed out), and the pass
/// that brings it back. Not applied: the failures before `fall` and the
/// passes before `rise`; a checker's event callback still sees them (e.g.
/// "health check failed: connection refused (1 of 3)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Healthy, and the check passed.
    Healthy,
    /// Healthy still: a failure, `count` of the `fall` in a row that take
    /// it out.
    Failing {
        /// Failures in a row so far.
        count: u32,
        /// Failures in a row that take it out.
        fall: u32,
    },
    /// The `fall`-th failure in a row: now unhealthy.
    WentDown {
        /// Failures in a row that took it out.
        fall: u32,
    },
    /// Unhealthy, and the check failed again.
    Unhealthy,
    /// Unhealthy still: a pass, `count` of the `rise` in a row that bring
    /// it back.
    Rising {
        /// Passes in a row so far.
        count: u32,
        /// Passes in a row that bring it back.
        rise: u32,
    },
    /// The `rise`-th pass in a row: healthy again.
    CameUp {
        /// Passes in a row that brought it back.
        rise: u32,
    },
    /// The result of a check that judges no health (an
    /// [`AgentPoll`](super::AgentPoll)): reported, never counted or
    /// applied.
    NotJudged,
}

impl Verdict {
    /// Whether the result goes to the pool
    /// ([`Pool::set_health`](crate::Pool::set_health)): all but the counted
    /// ones ([`Failing`](Self::Failing), [`Rising`](Self::Rising)).
    pub fn applies(&self) -> bool {
        !matches!(
            self,
            Verdict::Failing { .. } | Verdict::Rising { .. } | Verdict::NotJudged
        )
    }

    /// Whether the backend is healthy after this result (a result not
    /// judged takes nothing out).
    pub fn healthy(&self) -> bool {
        matches!(
            self,
            Verdict::Healthy
                | Verdict::Failing { .. }
                | Verdict::CameUp { .. }
                | Verdict::NotJudged
        )
    }
}

impl fmt::Display for Verdict {
    /// The words after the result in a log line: `(1 of 3)`, `(3 of 3), now
    /// unhealthy`; nothing for a pass while healthy or a result not
    /// judged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Healthy | Verdict::NotJudged => Ok(()),
            Verdict::Failing { count, fall } => write!(f, "({count} of {fall})"),
            Verdict::WentDown { fall } => write!(f, "({fall} of {fall}), now unhealthy"),
            Verdict::Unhealthy => f.write_str("(still unhealthy)"),
            Verdict::Rising { count, rise } => write!(f, "({count} of {rise})"),
            Verdict::CameUp { rise } => write!(f, "({rise} of {rise}), now healthy"),
        }
    }
}

impl RiseFall {
    /// A healthy backend's counter. `rise` and `fall` below 1 count as 1
    /// ([`CheckConfig::validate`](super::CheckConfig::validate) refuses them).
    pub fn new(rise: u32, fall: u32) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy: true,
            against: 0,
        }
    }

    /// A counter for a backend already out (e.g. the pool shows its last
    /// check failed when a checker starts): `rise` passes bring it back.
    pub fn unhealthy(rise: u32, fall: u32) -> Self {
        RiseFall {
            healthy: false,
            ..RiseFall::new(rise, fall)
        }
    }

    /// Whether the backend is healthy by this counter.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Counts one check's result.
    pub fn record(&mut self, passed: bool) -> Verdict {
        match (self.healthy, passed) {
            (true, true) => {
                self.against = 0;
                Verdict::Healthy
            }
            (false, false) => {
                self.against = 0;
                Verdict::Unhealthy
            }
            (true, false) => {
                self.against += 1;
                if self.against < self.fall {
                    return Verdict::Failing {
                        count: self.against,
                        fall: self.fall,
                    };
                }
                self.healthy = false;
                self.against = 0;
                Verdict::WentDown { fall: self.fall }
            }
            (false, true) => {
                self.against += 1;
                if self.against < self.rise {
                    return Verdict::Rising {
                        count: self.against,
                        rise: self.rise,
                    };
                }
                self.healthy = true;
                self.against = 0;
                Verdict::CameUp { rise: self.rise }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(machine: &mut RiseFall, results: &str) -> Vec<Verdict> {
        results.chars().map(|c| machine.record(c == '+')).collect()
    }

    #[test]
    fn a_backend_starts_healthy_and_every_pass_is_applied() {
        let mut machine = RiseFall::new(2, 3);
        assert!(machine.is_healthy());
        let verdicts = run(&mut machine, "+++");
        assert_eq!(verdicts, [Verdict::Healthy; 3]);
        assert!(verdicts.iter().all(Verdict::applies));
    }

    #[test]
    fn fall_failures_in_a_row_take_it_out_and_the_ones_before_are_only_counted() {
        let mut machine = RiseFall::new(2, 3);
        let verdicts = run(&mut machine, "---");
        assert_eq!(
            verdicts,
            [
                Verdict::Failing { count: 1, fall: 3 },
                Verdict::Failing { count: 2, fall: 3 },
                Verdict::WentDown { fall: 3 },
            ]
        );
        let applied: Vec<bool> = verdicts.iter().map(Verdict::applies).collect();
        assert_eq!(applied, [false, false, true]);
        assert!(!machine.is_healthy());
        assert_eq!(machine.record(false), Verdict::Unhealthy);
        assert!(Verdict::Unhealthy.applies());
    }

    #[test]
    fn a_pass_between_failures_starts_the_count_again() {
        let mut machine = RiseFall::new(2, 3);
        let verdicts = run(&mut machine, "--+--");
        assert_eq!(verdicts[2], Verdict::Healthy);
        assert_eq!(verdicts[4], Verdict::Failing { count: 2, fall: 3 });
        assert!(machine.is_healthy());
    }

    #[test]
    fn rise_passes_in_a_row_bring_it_back_and_a_failure_between_starts_again() {
        let mut machine = RiseFall::unhealthy(3, 2);
        let verdicts = run(&mut machine, "++-+++");
        assert_eq!(
            verdicts,
            [
                Verdict::Rising { count: 1, rise: 3 },
                Verdict::Rising { count: 2, rise: 3 },
                Verdict::Unhealthy,
                Verdict::Rising { count: 1, rise: 3 },
                Verdict::Rising { count: 2, rise: 3 },
                Verdict::CameUp { rise: 3 },
            ]
        );
        assert!(machine.is_healthy());
        assert_eq!(
            run(&mut machine, "--"),
            [
                Verdict::Failing { count: 1, fall: 2 },
                Verdict::WentDown { fall: 2 }
            ]
        );
    }

    #[test]
    fn rise_and_fall_of_one_act_on_the_first_result() {
        let mut machine = RiseFall::new(1, 1);
        assert_eq!(machine.record(false), Verdict::WentDown { fall: 1 });
        assert_eq!(machine.record(true), Verdict::CameUp { rise: 1 });
        let mut zero = RiseFall::new(0, 0);
        assert_eq!(zero.record(false), Verdict::WentDown { fall: 1 });
    }

    #[test]
    fn each_verdict_says_whether_the_backend_is_healthy_after_it_and_reads_as_a_count() {
        assert!(Verdict::Failing { count: 1, fall: 3 }.healthy());
        assert!(!Verdict::WentDown { fall: 3 }.healthy());
        assert!(!Verdict::Rising { count: 1, rise: 2 }.healthy());
        assert!(Verdict::CameUp { rise: 2 }.healthy());
        assert_eq!(
            Verdict::Failing { count: 1, fall: 3 }.to_string(),
            "(1 of 3)"
        );
        assert_eq!(
            Verdict::WentDown { fall: 3 }.to_string(),
            "(3 of 3), now unhealthy"
        );
        assert_eq!(Verdict::Healthy.to_string(), "");
    }
}
