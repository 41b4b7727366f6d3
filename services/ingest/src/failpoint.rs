//! Fault and measurement hooks of the tests and the ingest benchmark (`--failpoint`), honoured
//! only in builds with the `failpoints` feature: [`crate::run`] refuses one otherwise, and the
//! store (`store.rs`) checks the feature again where it acts on one.

/// Fault and measurement hooks of the tests and the ingest benchmark (`--failpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// `crash-after-write`: abort the process after a lake write, before its ack.
    CrashAfterWrite,
    /// `discard-after-receive`, `-validate`, `-layout`: acknowledge each batch after that step
    /// without storing it, to measure what the steps before it cost. Loses every event.
    DiscardAfter(Step),
}

/// A step of storing a batch, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Received from JetStream.
    Receive,
    /// Validated and deduplicated.
    Validate,
    /// Laid out as Arrow batches, one per file.
    Layout,
}

impl std::str::FromStr for Failpoint {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Ok(match text {
            "crash-after-write" => Failpoint::CrashAfterWrite,
            "discard-after-receive" => Failpoint::DiscardAfter(Step::Receive),
            "discard-after-validate" => Failpoint::DiscardAfter(Step::Validate),
            "discard-after-layout" => Failpoint::DiscardAfter(Step::Layout),
            _ => {
                return Err(format!(
                    "unknown failpoint {text:?}: crash-after-write, discard-after-receive, \
                     discard-after-validate or discard-after-layout"
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failpoints_parse_by_name_and_an_unknown_one_is_refused() {
        assert_eq!("crash-after-write".parse(), Ok(Failpoint::CrashAfterWrite));
        assert_eq!(
            "discard-after-validate".parse(),
            Ok(Failpoint::DiscardAfter(Step::Validate))
        );
        let err = "discard-after-write".parse::<Failpoint>().unwrap_err();
        assert!(err.contains("discard-after-layout"), "{err}");
    }
}
