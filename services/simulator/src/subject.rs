//! The subjects events are published on, as static strings: the generator and the malformed
//! events (`invalid.rs`) name one per event, so the hot path allocates none.

use parwatch_proto::EventType;

/// The subject an event of `event_type` is published on (`par.events.v1.<type>`).
pub(crate) fn subject_of(event_type: EventType) -> &'static str {
    match event_type {
        EventType::DossierReceived => "par.events.v1.dossier.received",
        EventType::OnlineApplication => "par.events.v1.online.application",
        EventType::PostalSubmission => "par.events.v1.postal.submission",
        EventType::DossierLate => "par.events.v1.dossier.late",
        EventType::DossierApology => "par.events.v1.dossier.apology",
        EventType::DossierResolved => "par.events.v1.dossier.resolved",
        EventType::ParScore => "par.events.v1.par.score",
        EventType::PlanActivity => "par.events.v1.plan.activity",
        EventType::DirectiveTask => "par.events.v1.directive.task",
        EventType::AgencyRegistered => "par.events.v1.agency.registered",
        EventType::AgencyRenamed => "par.events.v1.agency.renamed",
        EventType::AgencyMerged => "par.events.v1.agency.merged",
        EventType::AgencySplit => "par.events.v1.agency.split",
        EventType::AgencyDissolved => "par.events.v1.agency.dissolved",
        EventType::SupplementRequested => "par.events.v1.supplement.requested",
        EventType::SupplementProvided => "par.events.v1.supplement.provided",
        EventType::FeeRequested => "par.events.v1.fee.requested",
        EventType::FeePaid => "par.events.v1.fee.paid",
        EventType::ComponentDigitised => "par.events.v1.component.digitised",
        EventType::ResultIssued => "par.events.v1.result.issued",
        EventType::DossierSynced => "par.events.v1.dossier.synced",
        EventType::DossierRated => "par.events.v1.dossier.rated",
        EventType::PetitionReceived => "par.events.v1.petition.received",
        EventType::PetitionAnswered => "par.events.v1.petition.answered",
        EventType::ProcedureCatalogued => "par.events.v1.procedure.catalogued",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_contract() {
        for &t in EventType::ALL {
            assert_eq!(subject_of(t), t.subject());
        }
    }
}
