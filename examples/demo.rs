//! Every strategy picking from four backends, printed as a distribution.
//!
//! The backends have weights 1, 1, 2 and 4, and `w4` is slow: its picks are
//! held four times as long as the others' (a queue of outstanding picks is
//! released in turn), so the load-aware strategies can be seen steering
//! around it while the counting ones follow weights.
//!
//! ```text
//! cargo run --example demo
//! ```

use std::collections::VecDeque;

use pickwise::strategy::{AnyStrategy, StrategyKind};
use pickwise::{BackendSpec, Balancer, Context, Pick, Pool};

const PICKS: usize = 4_000;
const WEIGHTS: [u32; 4] = [1, 1, 2, 4];
/// How many pick-release rounds a pick of each backend stays outstanding.
const HOLD: [usize; 4] = [1, 1, 1, 4];
const BAR: usize = 40;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(arg) = std::env::args().nth(1) {
        return Err(format!("demo takes no arguments (got {arg:?})").into());
    }
    println!(
        "{PICKS} picks over w1..w4, weights {WEIGHTS:?}; w4 holds its picks {}x longer\n",
        HOLD[3]
    );
    for &kind in StrategyKind::ALL {
        let counts = run(kind)?;
        println!("{kind}");
        for (i, count) in counts.iter().enumerate() {
            let share = *count as f64 / PICKS as f64;
            let bar = "#".repeat((share * BAR as f64).round() as usize);
            println!("  w{} {:>5} {:>5.1}% {bar}", i + 1, count, share * 100.0);
        }
    }
    Ok(())
}

/// Picks `PICKS` times, keeping picks outstanding for `HOLD` rounds.
fn run(kind: StrategyKind) -> Result<[usize; 4], Box<dyn std::error::Error>> {
    let backends = WEIGHTS
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("w{}", i + 1), i).weight(w));
    let pool = Pool::new(AnyStrategy::new(kind), backends)?;
    let mut counts = [0; 4];
    let mut outstanding: VecDeque<(usize, Pick<usize>)> = VecDeque::new();
    for round in 0..PICKS {
        let client =
            std::net::IpAddr::from([10, 0, (round / 256 % 256) as u8, (round % 256) as u8]);
        let pick = pool.pick(&Context::new().client(client))?;
        counts[*pick.backend()] += 1;
        let release_at = round + 4 * HOLD[*pick.backend()];
        outstanding.push_back((release_at, pick));
        outstanding.retain(|(at, _)| *at > round);
    }
    Ok(counts)
}
