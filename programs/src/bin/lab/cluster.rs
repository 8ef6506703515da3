//! The lab running: four workers, one per host, and hyper_proxy on this
//! host in front of them. Dropping it stops the programs first, then
//! removes the hosts (fields drop in declaration order).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::hosts::{Host, Hosts};
use super::programs::Program;

/// One worker and how to start it again on the same addresses.
pub struct Worker {
    pub program: Option<Program>,
    pub host: Host,
    args: Vec<String>,
    want: (bool, bool),
    pub listen: SocketAddr,
    pub agent: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

/// Workers and proxy on their hosts.
pub struct Cluster {
    pub proxy: Option<Program>,
    pub workers: Vec<Worker>,
    pub bin: PathBuf,
    echo: bool,
    pub hosts: Hosts,
}

impl Cluster {
    /// Starts a worker on each host: `--listen IP:0`, with an agent and an
    /// admin listener when `agents` (the interactive lab: drain works).
    pub fn start(hosts: Hosts, bin: PathBuf, agents: bool, echo: bool) -> Result<Cluster, String> {
        let mut cluster = Cluster {
            proxy: None,
            workers: Vec::new(),
            bin,
            echo,
            hosts,
        };
        for host in cluster.hosts.hosts.clone() {
            let ip = host.ip;
            let mut args = vec![
                "--listen".into(),
                format!("{ip}:0"),
                "--name".into(),
                host.name.clone(),
            ];
            if agents {
                args.extend([
                    "--agent".into(),
                    format!("{ip}:0"),
                    "--admin".into(),
                    format!("{ip}:0"),
                ]);
            }
            let want = (agents, agents);
            let program = Program::start(
                &host.name,
                &cluster.bin.join("worker"),
                &args,
                Some(&host),
                want,
                echo,
            )?;
            // Started again, it binds the same addresses.
            let mut fixed = vec![
                "--listen".into(),
                program.listen.to_string(),
                "--name".into(),
                host.name.clone(),
            ];
            if let (Some(agent), Some(admin)) = (program.agent, program.admin) {
                fixed.extend([
                    "--agent".into(),
                    agent.to_string(),
                    "--admin".into(),
                    admin.to_string(),
                ]);
            }
            cluster.workers.push(Worker {
                listen: program.listen,
                agent: program.agent,
                admin: program.admin,
                program: Some(program),
                host,
                args: fixed,
                want,
            });
        }
        Ok(cluster)
    }

    /// Starts hyper_proxy on 127.0.0.1:0 in front of the workers (each
    /// `ADDR,id=wN`, with its agent when it has one), with `extra` flags.
    pub fn start_proxy(&mut self, strategy: &str, extra: &[String]) -> Result<(), String> {
        self.proxy = None;
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--strategy".into(),
            strategy.into(),
        ];
        for worker in &self.workers {
            let mut spec = format!("{},id={}", worker.listen, worker.host.name);
            if let Some(agent) = worker.agent {
                spec += &format!(",agent={agent}");
            }
            args.extend(["--backend".into(), spec]);
        }
        args.extend(extra.iter().cloned());
        let admin = extra
            .iter()
            .any(|a| a == "--admin" || a.starts_with("--admin="));
        let proxy = Program::start(
            "proxy",
            &self.bin.join("hyper_proxy"),
            &args,
            None,
            (false, admin),
            self.echo,
        )?;
        self.proxy = Some(proxy);
        Ok(())
    }

    /// The proxy's address.
    pub fn proxy_addr(&self) -> Result<SocketAddr, String> {
        self.proxy
            .as_ref()
            .map(|p| p.listen)
            .ok_or_else(|| "the proxy is not running".into())
    }

    /// Kills worker `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut program) = self.workers[i].program.take() {
            program.kill();
        }
    }

    /// Starts worker `i` again on the addresses it had.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.kill(i);
        let worker = &mut self.workers[i];
        let program = Program::start(
            &worker.host.name,
            &self.bin.join("worker"),
            &worker.args,
            Some(&worker.host),
            worker.want,
            self.echo,
        )?;
        worker.program = Some(program);
        Ok(())
    }
}
