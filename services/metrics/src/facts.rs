//! Per-dossier facts: the earliest event of each type, merged independently of arrival order.
//!
//! "Where a dossier has several events of one type, the earliest by `occurred_at` counts"
//! (metrics-v1). Ties at the same instant are broken by the event's own values (a total order),
//! so any arrival order gives the same facts. Times are UTC microseconds.

use parwatch_proto::{Channel, ServiceMode};

use crate::roles::Roles;
use crate::service_index::{ServiceEvent, ServiceFacts};

/// The earliest `dossier.received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    /// When it was received.
    pub at: i64,
    /// How it reached the one-stop shop.
    pub channel: Channel,
    /// Depth of the online service, for online dossiers.
    pub online_mode: Option<ServiceMode>,
    /// Appointment for the result.
    pub due_at: i64,
    /// The receiving point and commune area it names besides the competent agency. Two
    /// receipts of one instant, channel, mode and due date naming different ones are ordered
    /// by the agencies' ids (the order the projection first saw their codes): the only tie
    /// whose winner can depend on arrival order.
    pub roles: Roles,
}

/// The earliest `dossier.resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resolved {
    /// When the result was returned.
    pub at: i64,
    /// Whether the result was digitised (absent counts as not).
    pub digitized: Option<bool>,
}

/// The earliest `dossier.late`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Late {
    /// When the late file was recorded.
    pub at: i64,
    /// The appointment that was missed.
    pub due_at: i64,
}

/// What the event log says about one dossier, as far as the metrics need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// Earliest receipt.
    pub received: Option<Received>,
    /// Earliest resolution.
    pub resolved: Option<Resolved>,
    /// Earliest late file.
    pub late: Option<Late>,
    /// Earliest apology's time.
    pub apology_at: Option<i64>,
    /// What the events of the 766 service index say (supplements, fee, digitisation, result,
    /// sync, rating).
    pub service: ServiceFacts,
}

/// One event, reduced to what facts need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fact {
    Received(Received),
    Resolved(Resolved),
    Late(Late),
    Apology(i64),
    /// An event of the 766 service index at a time.
    Service(i64, ServiceEvent),
}

fn keep_min<T: Ord + Copy>(slot: &mut Option<T>, candidate: T) -> bool {
    match slot {
        Some(current) if *current <= candidate => false,
        _ => {
            *slot = Some(candidate);
            true
        }
    }
}

impl Facts {
    /// Merges one event; returns whether the facts changed.
    pub(crate) fn apply(&mut self, fact: Fact) -> bool {
        match fact {
            Fact::Received(r) => keep_min(&mut self.received, r),
            Fact::Resolved(r) => keep_min(&mut self.resolved, r),
            Fact::Late(l) => keep_min(&mut self.late, l),
            Fact::Apology(at) => keep_min(&mut self.apology_at, at),
            Fact::Service(at, event) => self.service.apply(at, event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_order_independent_and_keeps_the_earliest() {
        let facts = [
            Fact::Received(Received {
                at: 5,
                channel: Channel::Online,
                online_mode: Some(ServiceMode::Full),
                due_at: 50,
                roles: Roles::default(),
            }),
            Fact::Received(Received {
                at: 3,
                channel: Channel::Counter,
                online_mode: None,
                due_at: 40,
                roles: Roles::default(),
            }),
            Fact::Received(Received {
                at: 3,
                channel: Channel::Postal,
                online_mode: None,
                due_at: 40,
                roles: Roles::default(),
            }),
            Fact::Apology(9),
            Fact::Apology(7),
        ];
        let mut forward = Facts::default();
        let mut backward = Facts::default();
        for f in facts {
            forward.apply(f);
        }
        for f in facts.iter().rev() {
            backward.apply(*f);
        }
        assert_eq!(forward, backward);
        assert_eq!(
            forward.received.unwrap().channel,
            Channel::Counter,
            "tie at 3 broken by channel, in contract order"
        );
        assert_eq!(forward.apology_at, Some(7));
        assert!(
            !forward.apply(Fact::Apology(8)),
            "a later apology changes nothing"
        );
    }
}
