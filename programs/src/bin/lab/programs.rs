//! The programs the lab runs (worker, hyper_proxy): where their binaries
//! are, starting them on a host, reading the addresses they announce and
//! their log lines, and killing them when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::hosts::Host;

/// The directory of the program binaries `names`, beside the lab's own
/// (`target/<profile>/`); built first when missing and the lab was
/// started by cargo.
pub fn binaries(names: &[&'static str]) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the lab's binary: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("unexpected binary path {}", exe.display()))?
        .to_path_buf();
    let missing = |dir: &Path| {
        names
            .iter()
            .copied()
            .filter(|name| !dir.join(name).exists())
            .collect::<Vec<_>>()
    };
    if missing(&dir).is_empty() {
        return Ok(dir);
    }
    // `cargo run --bin lab` builds the lab alone; build the programs it
    // runs with the same profile, into the same target directory.
    let (profile, target_dir) = profile_and_target(&dir);
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let hint = "build them with `cargo build --release -p pickwise-programs`";
    let (Some(cargo), Some(profile), Some(target_dir), Some(manifest)) =
        (std::env::var_os("CARGO"), profile, target_dir, manifest)
    else {
        return Err(format!(
            "{} missing in {}: {hint}",
            missing(&dir).join(" and "),
            dir.display()
        ));
    };
    eprintln!(
        "lab: building {} ({profile} profile)",
        missing(&dir).join(" and ")
    );
    let status = Command::new(cargo)
        .args(["build", "--profile", &profile])
        .args(names.iter().flat_map(|&name| ["--bin", name]))
        .arg("--manifest-path")
        .arg(manifest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}; {hint}"))?;
    if !status.success() || !missing(&dir).is_empty() {
        return Err(format!("building the programs failed ({status}); {hint}"));
    }
    Ok(dir)
}

/// The cargo profile and target directory of a directory of binaries,
/// `<target>/<profile>/` (`debug` is the `dev` profile's).
fn profile_and_target(dir: &Path) -> (Option<String>, Option<&Path>) {
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .map(|name| if name == "debug" { "dev" } else { name }.to_owned());
    (profile, dir.parent())
}

/// Starts `command` so that it dies with the lab, however the lab ends (a
/// `kill -9` included): the child asks the kernel for SIGKILL when its
/// parent goes (`PR_SET_PDEATHSIG`). The kernel sends it when the *thread*
/// that forked the child ends, so every child is forked by one thread that
/// lives as long as the lab: a program started from a short-lived thread
/// (a tokio blocking thread, retired after 10 s idle) must not die with it.
pub fn spawn_tied(command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    use std::sync::mpsc::{channel, Sender};
    use std::sync::OnceLock;
    type Request = (Command, Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = channel::<Request>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    // SAFETY: prctl is async-signal-safe and only sets this
                    // child's own parent-death signal, between fork and exec.
                    unsafe {
                        command.pre_exec(|| {
                            match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) {
                                0 => Ok(()),
                                _ => Err(std::io::Error::last_os_error()),
                            }
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("a thread to start the lab's programs");
        Mutex::new(requests)
    });
    let (reply, answer) = channel();
    spawner
        .lock()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// Log lines as they arrived, each with its time.
pub type Log = Arc<Mutex<Vec<(Instant, String)>>>;

/// A running program, killed (and waited for) when dropped.
pub struct Program {
    child: Child,
    /// The addresses it announced: `listening on`, then `agent listening
    /// on` or `admin on` as asked.
    pub listen: SocketAddr,
    pub agent: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    /// Its stderr (tracing's log), line by line.
    pub log: Log,
}

impl Program {
    /// Starts `binary args` on `host` (this host when None) and waits up to
    /// 10 s for the lines it must announce first: `listening on ADDR`, then,
    /// when `agent`/`admin` are asked, `agent listening on ADDR` and `admin
    /// on ADDR`. With `echo`, its log lines are also copied to stderr.
    pub fn start(
        name: &str,
        binary: &Path,
        args: &[String],
        host: Option<&Host>,
        want: (bool, bool),
        echo: bool,
    ) -> Result<Program, String> {
        let program = binary.to_string_lossy();
        let mut command = match host {
            Some(host) => host.command(&program),
            None => Command::new(binary),
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_tied(command)
            .map_err(|e| format!("cannot start {name} ({}): {e}", binary.display()))?;
        let log: Log = Arc::default();
        if let Some(stderr) = child.stderr.take() {
            let (log, name) = (log.clone(), name.to_owned());
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("{name}: {line}");
                    }
                    if let Ok(mut log) = log.lock() {
                        log.push((Instant::now(), line));
                    }
                }
            });
        }
        let (lines_tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // Read to the end even once nobody listens: a program
                    // writing to a closed pipe would fail.
                    let _ = lines_tx.send(line);
                }
            });
        }
        let mut program = Program {
            child,
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            agent: None,
            admin: None,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let next = |prefix: &str| -> Result<SocketAddr, String> {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(wait) else {
                return Err(format!(
                    "{name} printed nothing where `{prefix}ADDR` was due (within 10 s)"
                ));
            };
            line.strip_prefix(prefix)
                .and_then(|addr| addr.trim().parse().ok())
                .ok_or_else(|| format!("{name} printed `{line}` where `{prefix}ADDR` was due"))
        };
        let announced = (|| {
            let listen = next("listening on ")?;
            let agent = if want.0 {
                Some(next("agent listening on ")?)
            } else {
                None
            };
            let admin = if want.1 {
                Some(next("admin on ")?)
            } else {
                None
            };
            Ok::<_, String>((listen, agent, admin))
        })();
        match announced {
            Ok((listen, agent, admin)) => {
                program.listen = listen;
                program.agent = agent;
                program.admin = admin;
                Ok(program)
            }
            Err(e) => {
                let _ = program.child.kill();
                std::thread::sleep(Duration::from_millis(100));
                let said: Vec<String> = program.log_lines().into_iter().take(20).collect();
                Err(format!("{e}; its log:\n{}", said.join("\n")))
            }
        }
    }

    /// The process id (`ip netns exec` execs the program: it is the program's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Kills it at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|log| log.iter().map(|(_, line)| line.clone()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_programs_are_built_with_the_labs_own_profile_into_its_target_directory() {
        let (profile, target) = profile_and_target(Path::new("/w/target/release"));
        assert_eq!(profile.as_deref(), Some("release"));
        assert_eq!(target, Some(Path::new("/w/target")));
        let (profile, _) = profile_and_target(Path::new("/w/target/debug"));
        assert_eq!(profile.as_deref(), Some("dev"));
    }
}
