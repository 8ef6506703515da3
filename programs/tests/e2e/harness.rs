//! Starting the programs and talking HTTP to them over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The program `name`, built by cargo for this test (`CARGO_BIN_EXE_*`).
pub fn program(name: &str) -> PathBuf {
    let path = match name {
        "hyper_proxy" => env!("CARGO_BIN_EXE_hyper_proxy"),
        "tcp_forwarder" => env!("CARGO_BIN_EXE_tcp_forwarder"),
        "worker" => env!("CARGO_BIN_EXE_worker"),
        "lab" => env!("CARGO_BIN_EXE_lab"),
        "simulate" => env!("CARGO_BIN_EXE_simulate"),
        other => panic!("no program named {other}"),
    };
    PathBuf::from(path)
}

/// A running program, killed when dropped.
pub struct Program {
    child: Child,
    pub addr: SocketAddr,
    /// The agent port a worker prints with `--agent`.
    pub agent: Option<SocketAddr>,
    /// The admin listener a worker prints with `--admin`.
    pub admin: Option<SocketAddr>,
    /// The `--name` it was started with, if any.
    pub name: String,
    /// Lines the program writes on stderr (its log).
    pub log: Receiver<String>,
}

impl Program {
    /// Starts `name` with `args` and reads the lines the contract says it
    /// prints first: `listening on ADDR`, then `agent listening on ADDR`
    /// with `--agent`, then `admin on ADDR` with `--admin`.
    pub fn start(name: &str, args: &[&str]) -> Program {
        Program::start_command(name, args, Command::new(program(name)))
    }

    /// Starts `name` as [`start`](Self::start) does, with its open-files
    /// limit (soft and hard) set to `limit` so it cannot raise it.
    pub fn start_with_open_files(name: &str, args: &[&str], limit: u64) -> Program {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(program(name));
        let cap = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: limit as libc::rlim_t,
        };
        // SAFETY: setrlimit is async-signal-safe and touches only the
        // child's own limit, between fork and exec.
        unsafe {
            command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &cap) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            });
        }
        Program::start_command(name, args, command)
    }

    fn start_command(name: &str, args: &[&str], mut command: Command) -> Program {
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut announced = |prefix: &str| -> SocketAddr {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            match line.trim_end().strip_prefix(prefix).map(str::parse) {
                Some(Ok(addr)) => addr,
                _ => {
                    let _ = child.kill();
                    let mut stderr = String::new();
                    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
                    panic!("{name} {args:?} printed `{line}` where `{prefix}ADDR` was due; stderr:\n{stderr}")
                }
            }
        };
        let addr = announced("listening on ");
        let agent = args
            .contains(&"--agent")
            .then(|| announced("agent listening on "));
        let admin = args.contains(&"--admin").then(|| announced("admin on "));
        let name = args
            .iter()
            .position(|a| *a == "--name")
            .and_then(|i| args.get(i + 1))
            .map_or(String::new(), |n| n.to_string());
        let (tx, log) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            // Keep reading stdout so the program never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        Program {
            child,
            addr,
            agent,
            admin,
            name,
            log,
        }
    }

    /// Waits until a log line contains `needle`, for at most `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line containing `{needle}` within {limit:?}"),
            }
        }
    }

    /// Its process id (e.g. to read /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a worker named `name` on a free port, with extra arguments.
pub fn worker(name: &str, extra: &[&str]) -> Program {
    let mut args = vec!["--listen", "127.0.0.1:0", "--name", name];
    args.extend_from_slice(extra);
    Program::start("worker", &args)
}

/// Starts `program` (hyper_proxy or tcp_forwarder) with `strategy` in front of `backends`.
pub fn proxy(program: &str, strategy: &str, backends: &[String], extra: &[&str]) -> Program {
    let mut args: Vec<&str> = vec!["--listen", "127.0.0.1:0", "--strategy", strategy];
    for backend in backends {
        args.push("--backend");
        args.push(backend);
    }
    args.extend_from_slice(extra);
    Program::start(program, &args)
}

/// An HTTP response, as much as the tests need.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The worker's name: the body's first line.
    pub fn name(&self) -> &str {
        self.body.lines().next().unwrap_or("")
    }
}

/// One `GET path` on a fresh connection, closed afterwards.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    read_reply(&mut stream)
}

/// Sends raw bytes and reads whatever reply comes, until close.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(bytes)?;
    read_reply(&mut stream)
}

/// Sends raw bytes and returns everything written back, until close.
pub fn exchange(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(bytes)?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The one line a worker's agent port answers with.
pub fn agent_reply(agent: SocketAddr) -> String {
    let mut stream =
        TcpStream::connect_timeout(&agent, Duration::from_secs(5)).expect("agent connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    stream.read_to_string(&mut line).expect("agent reply");
    line
}

fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut text = Vec::new();
    stream.read_to_end(&mut text)?;
    let text = String::from_utf8_lossy(&text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in `{head}`")))?;
    Ok(Reply {
        status,
        body: body.to_owned(),
    })
}

/// Names answering `n` sequential GETs.
pub fn names(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let reply = get(addr, "/").expect("GET through the proxy");
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.name().to_owned()
        })
        .collect()
}

/// How many times each of `expected` appears in `names`.
pub fn tally(names: &[String], expected: &[&str]) -> Vec<usize> {
    expected
        .iter()
        .map(|e| names.iter().filter(|n| n == e).count())
        .collect()
}

/// One `GET /` from the source address `source` (e.g. 127.0.0.5), so a
/// proxy hashing client addresses sees distinct clients on one machine.
pub fn get_from(source: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<Reply> {
    let mut stream = connect_from(source, addr)?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    read_reply(&mut stream)
}

/// A connection to `addr` from the source address `source` (a 127.x
/// address: another client on the same machine), with a 10 s read timeout.
pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// `POST path` with an empty body.
pub fn post(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}
