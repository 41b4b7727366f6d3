//! A private `nats-server -js` per test (or bench run), on a free port with a temporary store,
//! stopped on drop: ParWatch's own `LocalNats`, with the `PAR_EVENTS` stream.

use async_nats::jetstream;
use parwatch_ingest::{LocalNats, STREAM_NAME, ensure_stream};

/// A running nats-server with JetStream.
pub(crate) struct NatsServer {
    _server: LocalNats,
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
            _server: server,
            _store: store,
        }
    }

    /// A JetStream context with a fresh, empty `PAR_EVENTS` stream (file storage,
    /// `par.events.>`), so no message id of an earlier round is deduplicated.
    pub(crate) async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(&self.url).await.unwrap();
        let js = jetstream::new(client);
        let _ = js.delete_stream(STREAM_NAME).await;
        ensure_stream(&js, STREAM_NAME).await.unwrap();
        js
    }
}
