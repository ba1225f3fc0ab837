//! A program run as a child process, as an operator (or a crash) treats it: started with its
//! output appended to a log file, killed with SIGKILL (`kill -9`), stopped with SIGTERM,
//! started again with the same arguments, and its memory read from `/proc`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most it was resident since it started, in KiB.
    pub hwm_kib: u64,
}

/// A child process and how to start it again.
pub struct Process {
    label: String,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Working directory (the test's own when `None`).
    cwd: Option<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    peak_kib: u64,
}

impl Process {
    /// Starts `program args…` with stdout and stderr appended to `log`. `label` names it in
    /// errors and in the log's start lines.
    pub fn start(
        label: &str,
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
        log: &Path,
    ) -> Result<Process, Error> {
        Process::start_in(label, program, args, env, None, log)
    }

    /// [`Process::start`] in the working directory `cwd` (kept across restarts).
    pub fn start_in(
        label: &str,
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
        cwd: Option<&Path>,
        log: &Path,
    ) -> Result<Process, Error> {
        let mut p = Process {
            label: label.to_owned(),
            program: program.to_path_buf(),
            args: args.to_vec(),
            env: env.to_vec(),
            cwd: cwd.map(Path::to_path_buf),
            log: log.to_path_buf(),
            child: None,
            starts: 0,
            peak_kib: 0,
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        self.starts += 1;
        let _ = writeln!(log, "===== {} start {} =====", self.label, self.starts);
        let err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating a log handle", e))?;
        let mut command = Command::new(&self.program);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let child = command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", self.program.display()), e))?;
        self.child = Some(child);
        Ok(())
    }

    /// The process ID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How many times it was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The log file (every run appended, each after a `===== <label> start N =====` line).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The log's text (lossy UTF-8).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Its exit status, if it has exited (it is then reaped).
    pub fn exited(&mut self) -> Result<Option<ExitStatus>, Error> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io(format!("waiting for {}", self.label), e)),
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.exited(), Ok(None)) && self.child.is_some()
    }

    /// An error saying that the process exited, with its log's last lines.
    pub fn exited_error(&self, status: ExitStatus) -> Error {
        Error::Process(format!(
            "{} exited ({status}); last lines of {}:\n{}",
            self.label,
            self.log.display(),
            self.log_tail(30)
        ))
    }

    /// `kill -9`: SIGKILL, then reap it. Nothing of it runs afterwards. Its peak memory is
    /// sampled first.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.sample_memory();
        if let Some(mut child) = self.child.take() {
            // SIGKILL on Unix.
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| Error::io(format!("reaping {}", self.label), e))?;
        }
        Ok(())
    }

    /// Graceful stop: SIGTERM, then wait up to `grace` for the exit (SIGKILL and an error
    /// after that).
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus, Error> {
        self.sample_memory();
        let Some(mut child) = self.child.take() else {
            return Err(Error::Process(format!("{} is not running", self.label)));
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| Error::io("running kill -TERM", e))?;
        if !sent.success() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Process(format!("kill -TERM {} failed", self.label)));
        }
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::Timeout(format!(
                        "{} did not stop within {grace:?} of SIGTERM; last lines of {}:\n{}",
                        self.label,
                        self.log.display(),
                        self.log_tail(30)
                    )));
                }
                Err(e) => return Err(Error::io(format!("waiting for {}", self.label), e)),
            }
        }
    }

    /// Starts it again with the same arguments (after [`Process::kill`] or
    /// [`Process::terminate`]; an error while it runs).
    pub fn restart(&mut self) -> Result<(), Error> {
        if self.is_running() {
            return Err(Error::Process(format!(
                "{} is still running; stop it first",
                self.label
            )));
        }
        self.spawn()
    }

    /// Its memory now (an error when it does not run).
    pub fn memory(&mut self) -> Result<Memory, Error> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::Process(format!("{} is not running", self.label)))?;
        let [rss_kib, hwm_kib] = status_kib(pid, ["VmRSS:", "VmHWM:"])?;
        let m = Memory { rss_kib, hwm_kib };
        self.peak_kib = self.peak_kib.max(m.hwm_kib);
        Ok(m)
    }

    /// Samples the memory when it runs (keeps the peak up to date).
    pub fn sample_memory(&mut self) {
        let _ = self.memory();
    }

    /// The highest `VmHWM` seen over all its runs, in KiB (sampled at each [`Process::memory`]
    /// call and just before every kill and stop).
    pub fn peak_kib(&self) -> u64 {
        self.peak_kib
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `kB` fields `names` (with their colon, e.g. `"VmRSS:"`) of `/proc/<pid>/status`, in
/// KiB; 0 for a field the kernel does not report.
pub fn status_kib<const N: usize>(pid: u32, names: [&str; N]) -> Result<[u64; N], Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::io(format!("reading /proc/{pid}/status"), e))?;
    Ok(names.map(|name| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    }))
}
