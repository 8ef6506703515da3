//! Backend specs as a proxy's command line gives them
//! (`ADDR[,weight=N][,agent=ADDR][,id=NAME][,priority=N|,backup][,max_conns=N]`):
//! any text parses or is refused with an error naming it (control
//! characters escaped), never a panic, and a spec that parses is one a
//! pool accepts.

#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use pickwise::spec::{MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT};
use pickwise::strategy::RoundRobin;
use pickwise::{BackendSpec, Balancer, Context, Pool};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<BackendSpec<SocketAddr>>() {
        Ok(spec) => {
            assert!(
                (1..=MAX_WEIGHT).contains(&spec.weight),
                "{text:?}: {spec:?}"
            );
            assert!(spec.priority <= MAX_PRIORITY, "{text:?}: {spec:?}");
            assert!(
                spec.max_conns
                    .is_none_or(|cap| (1..=MAX_CONNS).contains(&cap)),
                "{text:?}: {spec:?}"
            );
            assert!(!spec.id.as_str().is_empty(), "{text:?}: {spec:?}");
            let addr = spec.value;
            let pool = Pool::new(RoundRobin::new(), vec![spec])
                .unwrap_or_else(|e| panic!("{text:?} parsed but the pool refused it: {e}"));
            let pick = pool.pick(&Context::new()).expect("one backend, up");
            assert_eq!(*pick.backend(), addr);
        }
        Err(error) => {
            // The message names the spec it refuses, its control characters
            // escaped (`\n`, `\u{c}`), and holds none raw: it cannot forge
            // a log line.
            let message = error.to_string();
            let shown: String = text
                .chars()
                .map(|c| match c.is_control() {
                    true => c.escape_default().to_string(),
                    false => c.to_string(),
                })
                .collect();
            assert!(
                message.contains(&shown),
                "{message:?} does not name {text:?}"
            );
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }
});
