//! The system commands the lab and its tests run (`ip`, `iptables`, `tc`),
//! and whether this process is root.

use std::process::Command;

/// Runs a command line, its stderr in the error when it fails.
pub fn run(line: &[&str]) -> Result<String, String> {
    let output = Command::new(line[0])
        .args(&line[1..])
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", line.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            line.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Effective user id 0, read from /proc (no libc call needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}
