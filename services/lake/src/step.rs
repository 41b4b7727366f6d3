//! The step of the scalar-function ledger (see `guards.rs`): what scalar functions produced on
//! this thread since the current step began, and whether an operator (rather than the planner,
//! folding constants) is running. Each poll of an operator's output, and of a query's planning
//! and execution futures, starts a new step.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::common::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{Stream, StreamExt};

thread_local! {
    /// Bytes produced by scalar functions on this thread since the current step began.
    static PRODUCED: Cell<usize> = const { Cell::new(0) };
    /// Whether an operator is running on this thread (otherwise the planner folds constants).
    static IN_OPERATOR: Cell<bool> = const { Cell::new(false) };
}

/// Starts a new step on this thread: what earlier steps produced is now held by operators
/// (counted by the memory pool) or gone.
fn new_step() {
    PRODUCED.with(|p| p.set(0));
}

/// Bytes produced on this thread in the current step.
pub(crate) fn produced() -> usize {
    PRODUCED.with(Cell::get)
}

/// Records the bytes produced on this thread in the current step.
pub(crate) fn set_produced(bytes: usize) {
    PRODUCED.with(|p| p.set(bytes));
}

/// Whether an operator is running on this thread.
pub(crate) fn in_operator() -> bool {
    IN_OPERATOR.with(Cell::get)
}

/// Runs `future`, starting a new step at each poll.
pub(crate) async fn stepwise<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        new_step();
        future.as_mut().poll(cx)
    })
    .await
}

/// `rows`, starting a step at each poll, as an operator.
pub(crate) fn stepwise_stream(rows: SendableRecordBatchStream) -> SendableRecordBatchStream {
    Box::pin(StepStream { inner: rows })
}

/// A stream that starts a step at each poll.
struct StepStream {
    inner: SendableRecordBatchStream,
}

impl Stream for StepStream {
    type Item = Result<datafusion::arrow::record_batch::RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        new_step();
        let outer = IN_OPERATOR.with(|o| o.replace(true));
        let polled = self.inner.poll_next_unpin(cx);
        IN_OPERATOR.with(|o| o.set(outer));
        polled
    }
}

impl RecordBatchStream for StepStream {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }
}
