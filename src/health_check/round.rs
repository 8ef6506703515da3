//! The checker's logic apart from its I/O and its waiting: which backends
//! a round checks (following the pool's membership), and what happens to
//! each check's answer (agent replies applied, the rise/fall rule, the
//! pool told, the event sent). The driver runs the checks and waits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::agent::AgentError;
use crate::health_check::check::{Answer, Check};
use crate::health_check::config::CheckConfig;
use crate::health_check::event::{CheckEvent, EventFn};
use crate::health_check::rise_fall::{RiseFall, Verdict};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::{BackendId, BackendSpec, CheckFailure, CheckResult};

/// A check's answer, or why it failed.
pub(crate) type Reply = Result<Answer, CheckFailure>;

/// One backend to check this round, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) id: BackendId,
    pub(crate) addr: SocketAddr,
}

/// A backend the checker follows.
struct Tracked {
    addr: SocketAddr,
    rise_fall: RiseFall,
}

/// A checker's state between rounds.
pub(crate) struct Core<S: Strategy, B, T> {
    pub(crate) pool: Arc<Pool<S, B>>,
    pub(crate) config: CheckConfig,
    pub(crate) check: Arc<dyn Check>,
    target: T,
    on_event: Option<EventFn>,
    backends: HashMap<BackendId, Tracked>,
}

impl<S, B, T> Core<S, B, T>
where
    S: Strategy,
    B: Clone + Send + Sync + 'static,
    T: Fn(&BackendSpec<B>) -> Option<SocketAddr>,
{
    pub(crate) fn new(
        pool: Arc<Pool<S, B>>,
        config: CheckConfig,
        check: Arc<dyn Check>,
        target: T,
        on_event: Option<EventFn>,
    ) -> Self {
        Core {
            pool,
            config,
            check,
            target,
            on_event,
            backends: HashMap::new(),
        }
    }

    /// The backends to check this round, from the pool's current set: the
    /// agent's address for an agent check, the target function's answer
    /// for the others; a backend with neither is not checked. Backends gone
    /// from the set (or whose address changed) are forgotten; new ones
    /// start healthy, unless the pool shows their last check failed.
    pub(crate) fn targets(&mut self) -> Vec<Target> {
        let targets: Vec<Target> = self
            .pool
            .specs()
            .iter()
            .filter_map(|spec| {
                let addr = match self.check.checks_agent() {
                    true => spec.agent,
                    false => (self.target)(spec),
                }?;
                Some(Target {
                    id: spec.id.clone(),
                    addr,
                })
            })
            .collect();
        let wanted: HashMap<&BackendId, SocketAddr> =
            targets.iter().map(|t| (&t.id, t.addr)).collect();
        self.backends
            .retain(|id, tracked| wanted.get(id) == Some(&tracked.addr));
        for target in &targets {
            if !self.backends.contains_key(&target.id) {
                let rise_fall = self.start(&target.id);
                self.backends.insert(
                    target.id.clone(),
                    Tracked {
                        addr: target.addr,
                        rise_fall,
                    },
                );
            }
        }
        targets
    }

    /// A new backend's counter: healthy, or unhealthy if the pool holds it
    /// out for a failed check (e.g. from a checker before this one).
    fn start(&self, id: &BackendId) -> RiseFall {
        let failed = self
            .pool
            .status(id)
            .and_then(|status| status.last_check)
            .is_some_and(|(result, _)| !result.passed());
        let (rise, fall) = (self.config.rise, self.config.fall);
        if failed {
            RiseFall::unhealthy(rise, fall)
        } else {
            RiseFall::new(rise, fall)
        }
    }

    /// Takes one check's answer: applies an agent's reply, counts the
    /// result and tells the pool if the rule says so (a check that judges
    /// health), and sends the event.
    pub(crate) fn settle(&mut self, target: &Target, answer: Reply) {
        let mut report = None;
        let result = match answer {
            Ok(Answer::Passed) => CheckResult::Passed,
            Ok(Answer::AgentReply(line)) => match self.pool.apply_agent_reply(&target.id, &line) {
                Ok(applied) => {
                    report = Some(applied);
                    CheckResult::Passed
                }
                // Removed from the set since the round began.
                Err(AgentError::UnknownBackend(_)) => return,
                Err(err) => CheckResult::Failed(CheckFailure::BadReply(err.to_string())),
            },
            Err(why) => CheckResult::Failed(why),
        };
        let Some(tracked) = self.backends.get_mut(&target.id) else {
            return;
        };
        // A probe this host could not run says nothing about the backend.
        let local = matches!(
            result,
            CheckResult::Failed(CheckFailure::LocalExhaustion(_))
        );
        let verdict = match self.check.judges_health() && !local {
            true => tracked.rise_fall.record(result.passed()),
            false => Verdict::NotJudged,
        };
        if verdict.applies() && !self.pool.set_health(&target.id, result.clone()) {
            return; // removed from the set since the round began
        }
        if let Some(on_event) = &self.on_event {
            on_event(&CheckEvent {
                id: target.id.clone(),
                addr: target.addr,
                result,
                verdict,
                report,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health_check::check::CheckKind;
    use crate::strategy::RoundRobin;
    use crate::types::BackendState;
    use std::sync::Mutex;

    type Events = Arc<Mutex<Vec<CheckEvent>>>;
    type TestCore = Core<RoundRobin, u16, fn(&BackendSpec<u16>) -> Option<SocketAddr>>;

    /// Port 0 means no address.
    fn target(spec: &BackendSpec<u16>) -> Option<SocketAddr> {
        (spec.value != 0).then(|| SocketAddr::from(([127, 0, 0, 1], spec.value)))
    }

    fn core(specs: Vec<BackendSpec<u16>>, check: CheckKind) -> (TestCore, Events) {
        let pool = Arc::new(Pool::new(RoundRobin::new(), specs).unwrap());
        let events: Events = Arc::default();
        let sink = Arc::clone(&events);
        let config = CheckConfig {
            rise: 2,
            fall: 2,
            ..CheckConfig::default()
        };
        let on_event: EventFn =
            Arc::new(move |e: &CheckEvent| sink.lock().unwrap().push(e.clone()));
        (
            Core::new(pool, config, Arc::new(check), target, Some(on_event)),
            events,
        )
    }

    #[test]
    fn a_round_follows_the_membership_and_skips_backends_without_an_address() {
        let (mut core, _) = core(
            vec![BackendSpec::new("a", 1), BackendSpec::new("none", 0)],
            CheckKind::Tcp,
        );
        let ids = |targets: Vec<Target>| -> Vec<String> {
            targets.iter().map(|t| t.id.to_string()).collect()
        };
        assert_eq!(ids(core.targets()), ["a"]);
        core.pool
            .update(vec![BackendSpec::new("b", 2), BackendSpec::new("c", 3)])
            .unwrap();
        assert_eq!(ids(core.targets()), ["b", "c"]);
        assert_eq!(core.backends.len(), 2);
    }

    #[test]
    fn results_go_through_the_rise_fall_rule_to_the_pool_and_every_one_is_an_event() {
        let (mut core, events) = core(vec![BackendSpec::new("a", 1)], CheckKind::Tcp);
        let targets = core.targets();
        let a = &targets[0];
        core.settle(a, Err(CheckFailure::Refused));
        let status = core.pool.status(&a.id).unwrap();
        assert_eq!(status.state, BackendState::Up, "one failure of two");
        assert_eq!(status.last_check, None);
        core.settle(a, Err(CheckFailure::Refused));
        let status = core.pool.status(&a.id).unwrap();
        assert_eq!(status.state, BackendState::Unhealthy);
        assert_eq!(
            status.reason.to_string(),
            "health check failed: connection refused"
        );
        core.settle(a, Ok(Answer::Passed));
        assert_eq!(
            core.pool.status(&a.id).unwrap().state,
            BackendState::Unhealthy
        );
        core.settle(a, Ok(Answer::Passed));
        assert_eq!(core.pool.status(&a.id).unwrap().state, BackendState::Up);
        let verdicts: Vec<Verdict> = events.lock().unwrap().iter().map(|e| e.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Failing { count: 1, fall: 2 },
                Verdict::WentDown { fall: 2 },
                Verdict::Rising { count: 1, rise: 2 },
                Verdict::CameUp { rise: 2 },
            ]
        );
    }

    #[test]
    fn a_probe_this_host_could_not_run_for_lack_of_descriptors_is_no_verdict() {
        let (mut core, events) = core(vec![BackendSpec::new("a", 1)], CheckKind::Tcp);
        let targets = core.targets();
        let a = &targets[0];
        let emfile = crate::health_check::failure_from_io(&std::io::Error::from_raw_os_error(24));
        assert!(
            matches!(emfile, CheckFailure::LocalExhaustion(_)),
            "{emfile:?}"
        );
        for _ in 0..5 {
            core.settle(a, Err(emfile.clone()));
        }
        let status = core.pool.status(&a.id).unwrap();
        assert_eq!(status.state, BackendState::Up);
        assert_eq!(status.last_check, None);
        // One real failure after them is the first of two, not the fifth.
        core.settle(a, Err(CheckFailure::Refused));
        assert_eq!(core.pool.status(&a.id).unwrap().state, BackendState::Up);
        let verdicts: Vec<Verdict> = events.lock().unwrap().iter().map(|e| e.verdict).collect();
        assert_eq!(verdicts[..5], [Verdict::NotJudged; 5]);
        assert_eq!(verdicts[5], Verdict::Failing { count: 1, fall: 2 });
    }

    #[test]
    fn a_backend_the_pool_holds_out_for_a_failed_check_starts_unhealthy() {
        let (mut core, _) = core(vec![BackendSpec::new("a", 1)], CheckKind::Tcp);
        let a = BackendId::new("a");
        core.pool
            .set_health(&a, CheckResult::Failed(CheckFailure::TimedOut));
        let targets = core.targets();
        core.settle(&targets[0], Ok(Answer::Passed));
        assert_eq!(core.pool.status(&a).unwrap().state, BackendState::Unhealthy);
        core.settle(&targets[0], Ok(Answer::Passed));
        assert_eq!(core.pool.status(&a).unwrap().state, BackendState::Up);
    }

    #[test]
    fn an_agent_check_uses_the_agent_address_and_a_bad_reply_is_a_failed_check() {
        let agent: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        let (mut core, events) = core(
            vec![
                BackendSpec::new("a", 1).agent(agent),
                BackendSpec::new("no-agent", 2),
            ],
            CheckKind::Agent,
        );
        let targets = core.targets();
        assert_eq!(
            targets,
            [Target {
                id: BackendId::new("a"),
                addr: agent
            }]
        );
        core.settle(&targets[0], Ok(Answer::AgentReply(b"drain".to_vec())));
        let status = core.pool.status(&targets[0].id).unwrap();
        assert_eq!(status.state, BackendState::Draining);
        assert_eq!(status.reason.to_string(), "agent said drain");
        core.settle(&targets[0], Ok(Answer::AgentReply(b"sideways".to_vec())));
        let last = events.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            last.result,
            CheckResult::Failed(CheckFailure::BadReply(
                "unknown agent word `sideways`".into()
            ))
        );
    }
}
