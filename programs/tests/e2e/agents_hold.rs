//! The proxies' agent pollers against misbehaving agents: one trickling its
//! reply, one silent, one sending garbage, one starving its backend with
//! `up 0%`. Each is a scripted agent in this process; what the proxy logs
//! and does about it is checked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{names, proxy, tally, worker, Program};

/// What the scripted agent does with the next connection.
#[derive(Clone)]
enum Mode {
    /// Answers this line and closes.
    Reply(&'static str),
    /// Sends a space every 300 ms, never a line end.
    Trickle,
    /// Sends nothing and holds the connection.
    Silent,
    /// A different refused reply each time: unknown words, bad numbers.
    Garbage,
}

/// An agent on 127.0.0.1:0 doing what its mode says; stopped when dropped.
struct Agent {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Agent {
    fn start(mode: Mode) -> Agent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let polls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (now, count, stopped) = (mode.clone(), polls.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let conn = match listener.accept() {
                    Ok((conn, _)) => conn,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let mode = now.lock().unwrap().clone();
                let stopped = stopped.clone();
                std::thread::spawn(move || serve(conn, mode, n, &stopped));
            }
        });
        Agent {
            addr,
            mode,
            polls,
            stop,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Serves one poll, the `n`th, in `mode`; gives up after a minute at most.
fn serve(mut conn: TcpStream, mode: Mode, n: usize, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let until = Instant::now() + Duration::from_secs(60);
    match mode {
        Mode::Reply(line) => {
            let _ = conn.write_all(format!("{line}\n").as_bytes());
        }
        Mode::Garbage => {
            let line = match n % 2 {
                0 => format!("zz{n} up\n"),
                _ => format!("{n}.5%\n"),
            };
            let _ = conn.write_all(line.as_bytes());
        }
        Mode::Trickle => {
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                if conn.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        Mode::Silent => {
            // Until the poller gives up and closes (a read of 0 or an error).
            let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 16];
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                match conn.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
        }
    }
}

/// `program` in front of workers w1 (its agent `agent`) and w2, round
/// robin, agents polled every `interval_ms`.
fn lab(program: &str, agent: &Agent, interval_ms: &str) -> (Vec<Program>, Program) {
    let workers = vec![worker("w1", &[]), worker("w2", &[])];
    let backends = vec![
        format!("{},agent={},id=w1", workers[0].addr, agent.addr),
        format!("{},id=w2", workers[1].addr),
    ];
    let front = proxy(
        program,
        "round-robin",
        &backends,
        &["--agent-interval-ms", interval_ms],
    );
    (workers, front)
}

#[test]
fn a_trickling_agent_is_reported_and_does_not_hold_its_poller() {
    let agent = Agent::start(Mode::Trickle);
    let (_workers, front) = lab("tcp_forwarder", &agent, "500");
    let line = front.wait_for_log("no complete reply within 500 ms", Duration::from_secs(10));
    assert!(
        line.contains(&format!("agent {} of w1", agent.addr)),
        "{line}"
    );
    // The poller is free: the agent's next, proper reply is applied.
    agent.set(Mode::Reply("drain"));
    front.wait_for_log(
        "w1 up -> draining: agent said drain",
        Duration::from_secs(10),
    );
    front.wait_for_log("answers again", Duration::from_secs(10));
}

#[test]
fn a_silent_agent_is_reported_as_giving_no_reply() {
    let agent = Agent::start(Mode::Silent);
    let (_workers, front) = lab("tcp_forwarder", &agent, "300");
    let line = front.wait_for_log(
        &format!("agent {} of w1", agent.addr),
        Duration::from_secs(10),
    );
    assert!(line.contains("no reply within 300 ms"), "{line}");
    assert!(!line.contains("os error"), "{line}");
}

#[test]
fn an_agent_reporting_up_0_percent_is_logged_as_taking_its_backend_out_of_traffic() {
    let agent = Agent::start(Mode::Reply("up 100%"));
    let (_workers, front) = lab("hyper_proxy", &agent, "50");
    assert_eq!(tally(&names(front.addr, 4), &["w1", "w2"]), [2, 2]);
    agent.set(Mode::Reply("up 0%"));
    let line = front.wait_for_log("w1 gets no traffic", Duration::from_secs(10));
    assert!(line.contains("capacity 100% -> 0%"), "{line}");
    let seen = names(front.addr, 10);
    assert_eq!(tally(&seen, &["w1", "w2"]), [0, 10], "{seen:?}");
    agent.set(Mode::Reply("up 100%"));
    front.wait_for_log("capacity 0% -> 100%", Duration::from_secs(10));
}

#[test]
fn an_agent_sending_garbage_is_logged_once_however_many_polls() {
    let agent = Agent::start(Mode::Garbage);
    let (_workers, front) = lab("tcp_forwarder", &agent, "50");
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.polls.load(Ordering::SeqCst) < 20 {
        assert!(Instant::now() < deadline, "fewer than 20 polls in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.set(Mode::Reply("up 100%"));
    // Every line about the agent until it answers again.
    let about = format!("agent {} of w1", agent.addr);
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = front
            .log
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no `answers again` within 10 s; lines: {lines:#?}"));
        if line.contains("answers again") {
            break;
        }
        if line.contains(&about) {
            lines.push(line);
        }
    }
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("bad reply: "), "{lines:#?}");
}
