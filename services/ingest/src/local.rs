//! A private `nats-server` with JetStream, for `parwatch up` and tests.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// A `nats-server` child process on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct LocalNats {
    child: Child,
    port: u16,
}

impl LocalNats {
    /// Starts `nats-server -js` with its store under `store_dir` on a free port and waits until
    /// it accepts connections.
    pub fn start(store_dir: &Path) -> Result<Self> {
        Self::start_on(store_dir, free_port()?)
    }

    /// Starts it on a given port (used to restart a server where clients expect it).
    pub fn start_on(store_dir: &Path, port: u16) -> Result<Self> {
        std::fs::create_dir_all(store_dir).map_err(|e| {
            Error::LocalServer(format!("cannot create {}: {e}", store_dir.display()))
        })?;
        let log = store_dir.join("nats-server.log");
        let child = Command::new(nats_server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store_dir)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::LocalServer(
                    "nats-server not found on PATH: install Debian's package \
                     (sudo apt-get install nats-server) or pass --nats-url"
                        .to_owned(),
                ),
                _ => Error::LocalServer(format!("cannot start nats-server: {e}")),
            })?;
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(Error::LocalServer(format!(
                    "nats-server exited with {status}: {}",
                    tail.lines().last().unwrap_or("(no log)")
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::LocalServer(format!(
                    "nats-server did not listen on {addr} within 15 s (log: {})",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nats-server` from PATH, else Debian's location (/usr/sbin is not on every user's PATH).
fn nats_server_binary() -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join("nats-server").is_file()))
        .unwrap_or(false);
    let debian = Path::new("/usr/sbin/nats-server");
    if !on_path && debian.is_file() {
        debian.to_path_buf()
    } else {
        "nats-server".into()
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::LocalServer(format!("no free port: {e}")))
}
