//! tcp_forwarder's bounds: idle connections time out, a crowd of idle
//! connections at the cap does not lock normal clients out, and open
//! connections cost no thread each. The backend is an echo server in this
//! process, which keeps every connection open as long as its client does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{connect_from, proxy, Program};

/// An echo server on 127.0.0.1:0 that counts the connections it accepted
/// and those still open; stopped with its runtime when dropped.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl Echo {
    fn start() -> Echo {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the echo backend");
        // A backlog of 1024 (std's and tokio's bind use 128): the
        // forwarder opens hundreds of connections to it at once.
        let listener = {
            let _inside = runtime.enter();
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket for the echo backend");
            socket
                .bind("127.0.0.1:0".parse().unwrap())
                .expect("bind the echo backend");
            socket.listen(1024).expect("listen")
        };
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (counted, still_open) = (accepted.clone(), open.clone());
        runtime.spawn(async move {
            loop {
                // An accept error (a connection reset before it was taken)
                // ends nothing: the next one is accepted.
                let Ok((mut conn, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                still_open.fetch_add(1, Ordering::SeqCst);
                let still_open = still_open.clone();
                tokio::spawn(async move {
                    let (mut read, mut write) = conn.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                    still_open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Echo {
            addr,
            accepted,
            open,
            _runtime: runtime,
        }
    }
}

/// Waits up to `limit` for `condition`, failing with `what` if it never holds.
fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tcp_forwarder in front of `echo` with extra flags.
fn forwarder(echo: &Echo, extra: &[&str]) -> Program {
    proxy(
        "tcp_forwarder",
        "round-robin",
        &[echo.addr.to_string()],
        extra,
    )
}

/// Sends `line` and reads it back: the connection is served end to end.
fn echoes(stream: &mut TcpStream, line: &[u8]) -> std::io::Result<bool> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(line)?;
    let mut back = vec![0u8; line.len()];
    stream.read_exact(&mut back)?;
    Ok(back == line)
}

/// Reads until the connection closes (within 20 s), failing otherwise.
fn closes(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} unexpected bytes instead of a close"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection was not closed within 20 s: {e}"),
    }
}

/// `n` client connections to `addr`, sending nothing.
fn idle_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("idle connection {i} of {n}: {e}"))
        })
        .collect()
}

/// Raises this process's open-files limit to its hard limit, so holding
/// hundreds of connections (both ends are here) does not fail for it.
fn raise_open_files_limit(needed: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: the struct is ours; getrlimit fills it, setrlimit reads it.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= needed,
        "this test needs {needed} open files; the hard limit is {}",
        limit.rlim_cur
    );
}

#[test]
fn an_idle_connection_is_closed_on_both_sides_after_the_idle_timeout_and_a_busy_one_is_not() {
    let echo = Echo::start();
    let front = forwarder(
        &echo,
        &["--idle-timeout-ms", "2000", "--log-level", "debug"],
    );
    let mut idle = TcpStream::connect(front.addr).unwrap();
    assert!(echoes(&mut idle, b"first\n").unwrap());
    let mut busy = TcpStream::connect(front.addr).unwrap();
    assert!(echoes(&mut busy, b"ping\n").unwrap());
    wait_until(
        Duration::from_secs(10),
        "both connections reach the backend",
        || echo.open.load(Ordering::SeqCst) == 2,
    );

    // The busy one talks every 100 ms while the idle one waits for its close.
    let busy_thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !echoes(&mut busy, b"ping\n").unwrap_or(false) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(busy)
    });
    closes(&mut idle);
    front.wait_for_log("no byte either way for", Duration::from_secs(10));
    wait_until(
        Duration::from_secs(10),
        "the backend side of the idle connection closed",
        || echo.open.load(Ordering::SeqCst) == 1,
    );
    let busy = busy_thread.join().unwrap();
    let mut busy = busy.expect("the busy connection was closed while it talked");
    assert!(echoes(&mut busy, b"still here\n").unwrap());
}

#[test]
fn fifty_idle_connections_at_a_cap_of_fifty_do_not_lock_out_a_normal_client() {
    let echo = Echo::start();
    let front = forwarder(
        &echo,
        // The normal client comes from the same address: no per-address
        // limit (above the cap), so only idle time decides.
        &[
            "--max-connections",
            "50",
            "--max-connections-per-client",
            "100",
        ],
    );
    let mut held = idle_clients(front.addr, 50);
    wait_until(
        Duration::from_secs(20),
        "the 50 idle connections reach the backend",
        || echo.accepted.load(Ordering::SeqCst) == 50,
    );
    // A normal client gets through, at most after the idle ones have been
    // idle long enough to give way (a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let served = TcpStream::connect_timeout(&front.addr, Duration::from_secs(5))
            .and_then(|mut s| echoes(&mut s, b"hello\n"));
        if let Ok(true) = served {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a normal client was not served in {attempts} attempts over 20 s: {served:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    front.wait_for_log("connection cap reached", Duration::from_secs(10));
    // Room was made by closing idle connections: back to at most 50 open to
    // the backend once the closed ones are gone.
    wait_until(
        Duration::from_secs(10),
        "at most 50 connections open to the backend",
        || echo.open.load(Ordering::SeqCst) <= 50,
    );
    held.clear();
}

/// The `Threads:` line of /proc/PID/status.
fn threads_of(pid: u32) -> usize {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} (this test needs Linux /proc): {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Threads: line in {path}"))
}

#[test]
fn five_hundred_idle_connections_keep_the_forwarder_on_a_bounded_number_of_threads() {
    raise_open_files_limit(1200);
    let echo = Echo::start();
    let front = forwarder(&echo, &[]);
    let held = idle_clients(front.addr, 500);
    let deadline = Instant::now() + Duration::from_secs(30);
    while echo.accepted.load(Ordering::SeqCst) < 500 {
        if Instant::now() > deadline {
            let log: Vec<String> = front.log.try_iter().take(20).collect();
            panic!(
                "{} of the 500 idle connections reached the backend in 30 s; the forwarder said: {log:#?}",
                echo.accepted.load(Ordering::SeqCst)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Runtime threads (one per core by default), the main thread and a few
    // of tokio's: nothing grows with the connections.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = 64.max(cores + 32);
    let threads = threads_of(front.pid());
    assert!(
        threads < bound,
        "{threads} threads for 500 idle connections (bound {bound})"
    );
    // And the forwarder still serves.
    let mut client = TcpStream::connect(front.addr).unwrap();
    assert!(echoes(&mut client, b"hello\n").unwrap());
    assert_eq!(held.len(), 500);
}

#[test]
fn the_forwarders_bounds_are_flags_listed_in_help_and_a_zero_connect_timeout_is_refused() {
    let program = crate::harness::program("tcp_forwarder");
    let help = std::process::Command::new(&program)
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--idle-timeout-ms <MS>",
        "--connect-timeout-ms <MS>",
        "--threads <N>",
        "--max-connections <N>",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
    let refused = std::process::Command::new(&program)
        .args(["--listen", "127.0.0.1:0", "--strategy", "round-robin"])
        .args(["--backend", "127.0.0.1:1", "--connect-timeout-ms", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value '0' for '--connect-timeout-ms <MS>': must be at least 1"),
        "{stderr}"
    );
}

#[test]
fn a_backend_that_half_closes_first_still_receives_what_the_client_sends_after() {
    // The backend says hello, closes its sending side, then reads until the
    // client's close and reports what it got.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap().to_string();
    let (tell, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = conn.write_all(b"hello\n");
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut received = Vec::new();
        let read = conn.read_to_end(&mut received);
        let _ = tell.send((read.map_err(|e| e.to_string()), received));
    });
    let front = proxy("tcp_forwarder", "round-robin", &[backend], &[]);
    let mut client = TcpStream::connect(front.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut greeting = Vec::new();
    client
        .read_to_end(&mut greeting)
        .expect("the backend's half-close reaches the client as an end of stream");
    assert_eq!(greeting, b"hello\n");
    // The other direction is still open: what the client sends now gets
    // through, and its own close ends the connection.
    client
        .write_all(b"late words\n")
        .expect("send after the half-close");
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let (read, received) = got
        .recv_timeout(Duration::from_secs(10))
        .expect("the backend's report");
    assert_eq!(read.map(|_| received), Ok(b"late words\n".to_vec()));
}

#[test]
fn a_flood_from_one_address_at_the_cap_gives_way_at_once_to_a_client_from_another() {
    let echo = Echo::start();
    let front = forwarder(
        &echo,
        &[
            "--max-connections",
            "20",
            "--max-connections-per-client",
            "20",
        ],
    );
    let mut flood = idle_clients(front.addr, 20);
    wait_until(
        Duration::from_secs(20),
        "the 20 flood connections reach the backend",
        || echo.accepted.load(Ordering::SeqCst) == 20,
    );
    // Every flood connection busy just now: none idle for a second.
    for stream in &mut flood {
        assert!(echoes(stream, b"busy\n").unwrap());
    }
    let mut other = connect_from("127.0.0.2".parse().unwrap(), front.addr).unwrap();
    assert!(
        echoes(&mut other, b"hello\n").expect("the client from another address is served"),
        "a wrong echo"
    );
    front.wait_for_log("connection cap reached", Duration::from_secs(10));
    // One of the flood's connections made the room.
    let closed = flood
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            match (&mut &**s).read(&mut [0u8; 8]) {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(n) => panic!("{n} unexpected bytes"),
            }
        })
        .count();
    assert_eq!(closed, 1, "one flood connection closed for the newcomer");
}

#[test]
fn an_address_past_its_connection_limit_is_closed_at_once_and_others_are_served() {
    let echo = Echo::start();
    let front = forwarder(
        &echo,
        &[
            "--max-connections",
            "20",
            "--max-connections-per-client",
            "5",
        ],
    );
    let mut held = idle_clients(front.addr, 5);
    wait_until(Duration::from_secs(10), "five reach the backend", || {
        echo.accepted.load(Ordering::SeqCst) == 5
    });
    let mut sixth = idle_clients(front.addr, 1).remove(0);
    closes(&mut sixth);
    front.wait_for_log("--max-connections-per-client", Duration::from_secs(5));
    let mut other = connect_from("127.0.0.2".parse().unwrap(), front.addr).unwrap();
    assert!(echoes(&mut other, b"hello\n").unwrap());
    assert!(
        echoes(&mut held[0], b"still\n").unwrap(),
        "the first five are kept"
    );
}
