//! `--subset K --client-index I/C`: each proxy keeps its deterministic
//! subset of the backends.

use pickwise::subset::{ClientIndex, Subsetting};

use crate::harness::{names, proxy, worker, Program};

#[test]
fn two_proxies_keeping_subsets_of_two_split_four_workers_between_them() {
    let ids = ["w1", "w2", "w3", "w4"];
    let workers: Vec<Program> = ids.iter().map(|n| worker(n, &[])).collect();
    let specs: Vec<String> = workers
        .iter()
        .map(|w| format!("{},id={}", w.addr, w.name))
        .collect();
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let mut reached = Vec::new();
        for client in ["0/2", "1/2"] {
            let front = proxy(
                program,
                "round-robin",
                &specs,
                &["--subset", "2", "--client-index", client],
            );
            let mut seen = names(front.addr, 8);
            seen.sort();
            seen.dedup();
            let index: ClientIndex = client.parse().unwrap();
            let expected: Vec<String> = Subsetting::new(2)
                .subset(&ids, index)
                .unwrap()
                .into_iter()
                .map(|i| ids[i].to_owned())
                .collect();
            assert_eq!(seen, expected, "{program} --client-index {client}");
            reached.extend(seen);
        }
        // Each of the four serves exactly one of the two proxies.
        reached.sort();
        assert_eq!(reached, ids, "{program}");
    }
}

#[test]
fn a_subset_without_a_client_index_is_refused() {
    let output = std::process::Command::new(crate::harness::program("tcp_forwarder"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--strategy",
            "p2c",
            "--backend",
            "127.0.0.1:1",
            "--subset",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--client-index <I/C>"), "{stderr}");
}
