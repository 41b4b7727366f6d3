//! A private `nats-server -js` per test (or bench run), on a free port with a temporary store,
//! killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

/// A running nats-server with JetStream.
pub(crate) struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:<port>`.
    pub(crate) url: String,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts nats-server and waits until it accepts connections.
    pub(crate) fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (e.g. /usr/sbin/nats-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        }
    }

    /// A JetStream context with a fresh `PAR_EVENTS` stream (file storage, `par.events.>`).
    pub(crate) async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(&self.url).await.unwrap();
        let js = jetstream::new(client);
        let _ = js.delete_stream("PAR_EVENTS").await;
        js.create_stream(stream::Config {
            name: "PAR_EVENTS".into(),
            subjects: vec!["par.events.>".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
        js
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
