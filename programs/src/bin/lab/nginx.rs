//! nginx (Debian's package) in front of the lab's hosts, for comparison:
//! `worker_processes` as the proxies' threads, a keep-alive upstream, the
//! next upstream tried on an error, a timeout or a 502/503/504 for the
//! requests nginx may send twice (idempotent ones: `non_idempotent` is not
//! set), 2 s to connect and to read as the proxies' per-try timeout, and
//! passive health (`max_fails=1 fail_timeout=3s`, as `--eject-ms 3000`).
//! Open-source nginx follows no DNS name at run time and has no agent
//! check, so a membership change is the config rewritten and reloaded
//! (SIGHUP to the master), and a drain changes nothing.
//!
//! Everything lives in a directory of its own under the system's temporary
//! directory (config, pid, logs, temporary files), removed when dropped,
//! after the master and its workers are stopped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx running: the master process (`daemon off`) and its directory.
pub struct Nginx {
    master: Child,
    dir: PathBuf,
    threads: usize,
    /// Where it accepts clients.
    pub listen: SocketAddr,
    /// Reloads done (membership changes).
    pub reloads: u64,
}

impl Nginx {
    /// Starts nginx on 127.0.0.1 (a port free now) in front of `members`,
    /// and waits (up to 10 s) until it accepts connections.
    pub fn start(threads: usize, members: &[SocketAddr]) -> Result<Nginx, String> {
        let binary = find_nginx()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for nginx: {e}"))?
            .port();
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("pw-lab-{}-nginx", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("temp"))
            .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        write_config(&dir, listen, threads, members)?;
        // Complaints before the error log is open (a bad config) go here.
        let stderr = std::fs::File::create(dir.join("error.log"))
            .map_err(|e| format!("cannot make {}/error.log: {e}", dir.display()))?;
        let mut command = Command::new(&binary);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // Its master dies with the lab (its workers follow their master).
        let master = super::programs::spawn_tied(command)
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut nginx = Nginx {
            master,
            dir,
            threads,
            listen,
            reloads: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = nginx.master.try_wait() {
                return Err(format!(
                    "nginx exited at start ({status}): {}",
                    nginx.error_log()
                ));
            }
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                return Ok(nginx);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not accept on {listen} within 10 s: {}",
                    nginx.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The master's pid (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.master.id()
    }

    /// Rewrites the upstream with `members` and reloads (SIGHUP): new
    /// workers take the new set, the old ones finish what they hold.
    pub fn reload(&mut self, members: &[SocketAddr]) -> Result<(), String> {
        write_config(&self.dir, self.listen, self.threads, members)?;
        super::hosts::run(&["kill", "-HUP", &self.master.id().to_string()])?;
        self.reloads += 1;
        Ok(())
    }

    /// The error log's last lines (what nginx complained about).
    pub fn error_log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Lines of the error log with `[error]` or worse, counted by what
    /// follows the connection number (e.g. "connect() failed (111: ...)").
    pub fn errors(&self) -> Vec<(String, usize)> {
        let text = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for line in text.lines() {
            let Some(at) = ["[error]", "[crit]", "[alert]", "[emerg]"]
                .iter()
                .find_map(|level| line.find(level))
            else {
                continue;
            };
            // "... [error] 12#12: *345 connect() failed (111: Connection
            // refused) while connecting to upstream, client: ..."
            let rest = &line[at..];
            let what = rest
                .split_once(": *")
                .and_then(|(_, r)| r.split_once(' '))
                .map_or(rest, |(_, r)| r);
            let what = what.split(", client:").next().unwrap_or(what).trim();
            *counts.entry(what.to_owned()).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A fast shutdown (SIGTERM) of the master stops its workers too.
        let pid = self.master.id().to_string();
        let _ = super::hosts::run(&["kill", "-TERM", &pid]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.master.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for child in super::resources::children(self.master.id()) {
            let _ = super::hosts::run(&["kill", "-KILL", &child.to_string()]);
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx on PATH or in /usr/sbin.
fn find_nginx() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            "nginx is not installed (`apt-get install -y nginx`; bench/chaos.sh installs it), \
             or leave it out with --no-nginx"
                .into()
        })
}

fn write_config(
    dir: &Path,
    listen: SocketAddr,
    threads: usize,
    members: &[SocketAddr],
) -> Result<(), String> {
    let d = dir.display();
    let servers: String = members
        .iter()
        .map(|addr| format!("        server {addr} max_fails=1 fail_timeout=3s;\n"))
        .collect();
    let config = format!(
        "# Written by the pickwise lab (programs/src/bin/lab/nginx.rs); removed at its end.
daemon off;
master_process on;
worker_processes {threads};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    keepalive_requests 100000;
    upstream lab {{
{servers}        keepalive 64;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://lab;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_timeout 10s;
            proxy_connect_timeout 2s;
            proxy_send_timeout 2s;
            proxy_read_timeout 2s;
        }}
    }}
}}
"
    );
    std::fs::write(dir.join("nginx.conf"), config)
        .map_err(|e| format!("cannot write {d}/nginx.conf: {e}"))
}
