//! `max_conns` caps under two real threads: each thread picks, holds up to
//! three picks at once and drops them, many times over, on a pool of three
//! backends capped at 1, 2 and 3. A count read right after an admission can
//! be above the cap only if admission over-admitted (the count only falls
//! between the admission and the read, or rises by admissions that saw it
//! below the cap). No timing is asserted.

use std::collections::VecDeque;
use std::thread;

use pickwise::health::HealthConfig;
use pickwise::strategy::{LeastConnections, RoundRobin};
use pickwise::{BackendId, BackendSpec, Balancer, Context, NoBackend, Pick, Pool, Strategy};

const CYCLES: usize = 20_000;
const HOLD: usize = 3;
const CAPS: [(&str, u32); 3] = [("a", 1), ("b", 2), ("c", 3)];

fn pool<S: Strategy>(strategy: S) -> Pool<S, u32> {
    Pool::builder(strategy)
        .health(HealthConfig::disabled())
        .build(
            CAPS.iter()
                .map(|&(id, cap)| BackendSpec::new(id, cap).max_conns(cap)),
        )
        .unwrap()
}

/// What one thread saw: picks admitted, picks refused at capacity, and any
/// other refusal (with its round), which should never come.
#[derive(Default)]
struct Tally {
    admitted: usize,
    at_capacity: usize,
    other: Vec<(usize, NoBackend)>,
}

/// `CYCLES` rounds of: pick, check the chosen backend's count against its
/// cap, keep the pick. A thread keeps up to `HOLD` picks between rounds: it
/// picks while holding `HOLD` (so both threads together can fill all six
/// places and a pick must be refused), then drops its oldest; every fifth
/// round it drops them all first, so the other thread picks against
/// varied counts.
fn churn<S: Strategy>(pool: &Pool<S, u32>, salt: usize) -> Tally {
    let mut tally = Tally::default();
    let mut held: VecDeque<Pick<u32>> = VecDeque::with_capacity(HOLD + 1);
    for round in 0..CYCLES {
        if (round + salt) % 5 == 0 {
            held.clear();
        }
        match pool.pick(&Context::new()) {
            Ok(pick) => {
                let cap = u64::from(*pick.backend());
                let now = pool.status(pick.id()).unwrap().in_flight;
                let now = now.expect("a capped pool counts in flight");
                assert!(
                    (1..=cap).contains(&now),
                    "{}: {now} in flight, cap {cap}",
                    pick.id()
                );
                tally.admitted += 1;
                held.push_back(pick);
                if held.len() > HOLD {
                    held.pop_front();
                }
            }
            Err(NoBackend::AtCapacity) => tally.at_capacity += 1,
            Err(other) => tally.other.push((round, other)),
        }
    }
    tally
}

fn race<S: Strategy>(strategy: S) {
    let pool = pool(strategy);
    let tallies: Vec<Tally> = thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|salt| {
                let pool = &pool;
                scope.spawn(move || churn(pool, salt))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let admitted: usize = tallies.iter().map(|t| t.admitted).sum();
    let at_capacity: usize = tallies.iter().map(|t| t.at_capacity).sum();
    let other: Vec<_> = tallies.iter().flat_map(|t| &t.other).collect();
    assert_eq!(admitted + at_capacity + other.len(), 2 * CYCLES);
    assert!(admitted > 0, "no pick was admitted");
    // The caps were reached: six places, and both threads holding three
    // fill them.
    assert!(at_capacity > 0, "no pick was refused at capacity");
    for (id, _) in CAPS {
        let status = pool.status(&BackendId::new(id)).unwrap();
        assert_eq!(status.in_flight, Some(0), "{id} still counts picks");
    }
    // Every backend is up and nothing is excluded: a pick can only be
    // refused for want of room.
    assert!(
        other.is_empty(),
        "{} of {} refusals were not AtCapacity, e.g. (round, reason) {:?}",
        other.len(),
        other.len() + at_capacity,
        &other[..other.len().min(3)]
    );
}

#[test]
fn least_connections_never_admits_over_a_cap_from_two_threads() {
    race(LeastConnections::new());
}

#[test]
fn round_robin_never_admits_over_a_cap_from_two_threads() {
    race(RoundRobin::new());
}
