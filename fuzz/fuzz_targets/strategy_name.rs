//! Strategy names and options as a command line or config file gives them.
//! The input is the name on its first line, a hash key (32 hex digits) on
//! its second, and the rest the other options (seed, IPv6 prefix) and a
//! client address: names parse or are refused with the list of known ones,
//! a parsed name prints back to itself, and every strategy so configured
//! builds and picks.

#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pickwise::hash::HashKey;
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::{BackendSpec, Balancer, Context, Pool};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let name = lines.next().unwrap_or_default();
    let key_text = lines.next().unwrap_or_default();
    let mut rest = Unstructured::new(lines.next().unwrap_or_default());

    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    let kind = match name.parse::<StrategyKind>() {
        Ok(kind) => kind,
        Err(error) => {
            // Named with its control characters escaped, none raw.
            let message = error.to_string();
            let shown: String = name
                .chars()
                .map(|c| match c.is_control() {
                    true => c.escape_default().to_string(),
                    false => c.to_string(),
                })
                .collect();
            assert!(
                message.contains(&shown),
                "{message:?} does not name {name:?}"
            );
            assert!(!message.chars().any(char::is_control), "{message:?}");
            assert!(name.parse::<AnyStrategy>().is_err());
            return;
        }
    };
    assert_eq!(kind.name().parse::<StrategyKind>(), Ok(kind));
    assert_eq!(kind.to_string(), kind.name());
    assert_eq!(name.parse::<AnyStrategy>().map(|s| s.kind()), Ok(kind));

    let hash_key = std::str::from_utf8(key_text)
        .ok()
        .and_then(|text| text.parse::<HashKey>().ok());
    let options = StrategyOptions {
        hash_key,
        seed: Option::<u64>::arbitrary(&mut rest).unwrap_or_default(),
        v6_prefix: Option::<u8>::arbitrary(&mut rest).unwrap_or_default(),
        load_report_blackout: None,
    };
    let client = IpAddr::V6(Ipv6Addr::from(
        u128::arbitrary(&mut rest).unwrap_or_default(),
    ));
    let strategy = AnyStrategy::with_options(kind, &options);
    assert_eq!(strategy.kind(), kind);
    let pool = match Pool::new(
        strategy,
        (0..3).map(|n| BackendSpec::new(format!("b{n}"), n).weight(n + 1)),
    ) {
        Ok(pool) => pool,
        Err(error) => {
            // The only option out of range: an IPv6 prefix past 128 bits,
            // refused by the strategies that hash clients, naming it.
            let prefix = options.v6_prefix.unwrap_or_default();
            assert!(prefix > 128, "{kind}: {options:?} refused: {error}");
            assert!(error.to_string().contains(&prefix.to_string()), "{error}");
            return;
        }
    };
    for _ in 0..3 {
        let pick = pool.pick(&Context::new().client(client));
        assert!(pick.is_ok(), "{kind}: three backends up and no pick");
    }
});
