//! A private `nats-server -js` per test (or bench run), on a free port with a temporary store,
//! stopped on drop: ParWatch's own `LocalNats`, with the `PAR_EVENTS` stream.

use async_nats::jetstream;
use parwatch_ingest::{Identity, LocalNats, STREAM_NAME, StreamLimits, connect, ensure_stream};

/// A running nats-server with JetStream.
pub(crate) struct NatsServer {
    server: LocalNats,
    /// `nats://127.0.0.1:<port>`.
    pub(crate) url: String,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts nats-server and waits until it accepts connections.
    pub(crate) fn start() -> NatsServer {
        let store = tempfile::tempdir().unwrap();
        let server = LocalNats::start(store.path()).expect("nats-server is installed");
        NatsServer {
            url: server.url(),
            server,
            _store: store,
        }
    }

    /// The administrator's JetStream context: the only one that reads the stream.
    pub(crate) async fn admin(&self) -> jetstream::Context {
        let admin = Identity::load(&self.server.admin_key()).unwrap();
        jetstream::new(connect(&self.url, "admin", Some(&admin)).await.unwrap())
    }

    /// A publisher's JetStream context with a fresh, empty `PAR_EVENTS` stream (emptied by
    /// the administrator), so no message id of an earlier round is deduplicated.
    pub(crate) async fn jetstream(&self) -> jetstream::Context {
        let admin = self.admin().await;
        let _ = admin.delete_stream(STREAM_NAME).await;
        ensure_stream(&admin, STREAM_NAME, &StreamLimits::default())
            .await
            .unwrap();
        let publisher = Identity::load(&self.server.local_publisher_key()).unwrap();
        jetstream::new(
            connect(&self.url, "publisher", Some(&publisher))
                .await
                .unwrap(),
        )
    }
}
