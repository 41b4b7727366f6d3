//! The three roles of an agency on a dossier (issue #23): the competent agency of the events'
//! `agency_code` (the default view of every figure), the receiving point and the commune area
//! that a `dossier.received` may name (`data.receiving_agency_code`, `data.area_code`). A
//! dossier's counters can be read under the agency of any role: the daily counters keep one
//! view per role (`rollup.rs`), the per-dossier facts the two agencies' ids ([`Roles`]).

use std::borrow::Cow;

use crate::rollups::Rollups;

/// Under which agency of a dossier its counters are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DossierRole {
    /// The competent agency (`agency_code`): every figure's default.
    #[default]
    Competent,
    /// The point that received the dossier (`receiving_agency_code`, else the competent one).
    Receiving,
    /// The commune the dossier belongs to (`area_code`, else the competent agency).
    Area,
}

impl DossierRole {
    /// Every role, in the order of their names.
    pub const ALL: &'static [DossierRole] = &[
        DossierRole::Competent,
        DossierRole::Receiving,
        DossierRole::Area,
    ];

    /// Its name in the API: `competent`, `receiving`, `area`.
    pub fn as_str(self) -> &'static str {
        match self {
            DossierRole::Competent => "competent",
            DossierRole::Receiving => "receiving",
            DossierRole::Area => "area",
        }
    }

    /// The role of a name, `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == text)
    }

    /// The index of a role other than the competent one among the daily counters' views.
    pub(crate) fn view(self) -> Option<usize> {
        match self {
            DossierRole::Competent => None,
            DossierRole::Receiving => Some(0),
            DossierRole::Area => Some(1),
        }
    }
}

/// The agencies of a receipt's roles other than the competent one, as agency ids; `None` where
/// the receipt names none (or names the competent agency itself: the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Roles {
    /// The receiving point.
    pub receiving: Option<u32>,
    /// The commune area.
    pub area: Option<u32>,
}

impl Roles {
    /// The agency id of `role` for a dossier of the competent agency `competent`.
    pub fn agency(&self, role: DossierRole, competent: u32) -> u32 {
        match role {
            DossierRole::Competent => competent,
            DossierRole::Receiving => self.receiving.unwrap_or(competent),
            DossierRole::Area => self.area.unwrap_or(competent),
        }
    }
}

impl Rollups {
    /// These rollups with every dossier counted under its agency of `role`, for the rollups
    /// as folded (counted under the competent agency): the metrics, series, rankings and their
    /// restated views then read the dossier counters of that role, the agencies' own work
    /// being the same in every role. Restated, the split weights a decision does not give are
    /// estimated from the role's counts (the successors' dossiers being restated). Borrowed
    /// while no dossier names an agency of that role other than its competent one (the
    /// counters are then the same); otherwise a copy sharing the counters' months.
    pub fn in_role(&self, role: DossierRole) -> Cow<'_, Rollups> {
        let view = self.daily.role(role);
        if std::ptr::eq(view, &self.daily) {
            return Cow::Borrowed(self);
        }
        Cow::Owned(Rollups {
            daily: view.clone(),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_named_and_default_to_the_competent_agency() {
        for role in DossierRole::ALL {
            assert_eq!(DossierRole::parse(role.as_str()), Some(*role));
        }
        assert_eq!(DossierRole::parse("commune"), None);
        assert_eq!(DossierRole::default(), DossierRole::Competent);
        let roles = Roles {
            receiving: Some(7),
            area: None,
        };
        assert_eq!(roles.agency(DossierRole::Receiving, 3), 7);
        assert_eq!(roles.agency(DossierRole::Area, 3), 3);
        assert_eq!(roles.agency(DossierRole::Competent, 3), 3);
    }
}
