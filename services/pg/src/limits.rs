//! Connection slots: a cap on connections in all and per client address, and the refusal a
//! connection over the cap gets (PostgreSQL's own: FATAL, SQLSTATE 53300 too_many_connections).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// How many connections the endpoint holds, and how long one may take to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections at once, from everyone.
    pub max_connections: usize,
    /// Connections at once from one client address.
    pub per_peer: usize,
    /// Time from accept to a completed login; past it the connection is closed.
    pub login_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            per_peer: 16,
            login_timeout: Duration::from_secs(10),
        }
    }
}

/// Refusals answered at once; past this, a refused connection is simply closed.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused client has to send its startup message before the refusal is sent.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);
/// Largest startup packet read while refusing (PostgreSQL's own limit is 10,000 bytes).
const MAX_STARTUP_PACKET: u32 = 10_000;
/// `SSLRequest` and `GSSENCRequest` codes: answered "N" (no encryption) before the refusal.
const ENCRYPTION_REQUESTS: [u32; 2] = [80_877_103, 80_877_104];

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// Why a connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot is taken.
    Total(usize),
    /// The client's address holds its share.
    Peer(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(max) => write!(
                f,
                "sorry, too many clients already: this server takes {max} connections at once"
            ),
            Refusal::Peer(max) => write!(
                f,
                "too many connections from your address: at most {max} at once"
            ),
        }
    }
}

/// The slots of one endpoint.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: ConnectionLimits,
    counts: Arc<Mutex<Counts>>,
    refusing: Arc<Semaphore>,
}

/// One taken slot, freed when dropped (the connection ended).
#[derive(Debug)]
pub(crate) struct Slot {
    peer: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total -= 1;
        if let Some(n) = counts.by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.by_peer.remove(&self.peer);
            }
        }
    }
}

impl Slots {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            counts: Arc::default(),
            refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
        }
    }

    pub(crate) fn login_timeout(&self) -> Duration {
        self.limits.login_timeout
    }

    /// A slot for a connection from `peer`, or why not.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Slot, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.limits.max_connections {
            return Err(Refusal::Total(self.limits.max_connections));
        }
        let mine = counts.by_peer.entry(peer).or_default();
        if *mine >= self.limits.per_peer {
            return Err(Refusal::Peer(self.limits.per_peer));
        }
        *mine += 1;
        counts.total += 1;
        Ok(Slot {
            peer,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Answers a connection over the cap as PostgreSQL does: reads its startup message
    /// (declining encryption), sends FATAL 53300 with the reason, closes. Bounded in time and
    /// in how many are answered at once.
    pub(crate) fn refuse(&self, socket: TcpStream, refusal: Refusal) {
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let mut socket = socket;
            let _ = tokio::time::timeout(REFUSAL_WAIT, read_startup(&mut socket)).await;
            let message = error_response("53300", &refusal.to_string());
            if socket.write_all(&message).await.is_ok() && socket.shutdown().await.is_ok() {
                // Read what the client still sends until it closes, so closing is not a
                // reset that could discard the error before the client reads it.
                let mut sink = [0u8; 512];
                let _ = tokio::time::timeout(REFUSAL_WAIT, async {
                    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                })
                .await;
            }
        });
    }
}

/// Reads the client's first packets: encryption requests (answered "N"), then the startup
/// message.
async fn read_startup(socket: &mut TcpStream) -> std::io::Result<()> {
    for _ in 0..3 {
        let len = socket.read_u32().await?;
        if !(8..=MAX_STARTUP_PACKET).contains(&len) {
            return Ok(());
        }
        let mut body = vec![0u8; len as usize - 4];
        socket.read_exact(&mut body).await?;
        let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if !ENCRYPTION_REQUESTS.contains(&code) {
            return Ok(());
        }
        socket.write_all(b"N").await?;
    }
    Ok(())
}

/// A FATAL `ErrorResponse` message of the PostgreSQL protocol.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    let len = u32::try_from(fields.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_freed_on_drop() {
        let slots = Slots::new(ConnectionLimits {
            max_connections: 3,
            per_peer: 2,
            login_timeout: Duration::from_secs(1),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.admit(a).unwrap();
        let _second = slots.admit(a).unwrap();
        assert_eq!(slots.admit(a).unwrap_err(), Refusal::Peer(2));
        let _third = slots.admit(b).unwrap();
        assert_eq!(slots.admit(b).unwrap_err(), Refusal::Total(3));
        drop(first);
        let _again = slots.admit(a).unwrap();
    }

    #[test]
    fn the_refusal_is_a_well_formed_error_response() {
        let bytes = error_response("53300", "sorry");
        assert_eq!(bytes[0], b'E');
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        assert_eq!(len, bytes.len() - 1);
        let text = String::from_utf8_lossy(&bytes[5..]);
        assert!(
            text.contains("C53300\0") && text.contains("Msorry\0"),
            "{text}"
        );
        assert_eq!(bytes.last(), Some(&0));
    }
}
