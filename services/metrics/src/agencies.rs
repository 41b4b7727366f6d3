//! Agency codes as small ids: every projection keys its rows by agency id, and the metrics and
//! the PAR Index turn ids back into codes.

use std::collections::HashMap;

/// The agency codes seen so far, each with its id (ids count up from 0 in order of arrival).
#[derive(Debug, Default, Clone)]
pub(crate) struct Agencies {
    codes: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Agencies {
    /// The id of `code`, given it the next free id when it is new.
    pub(crate) fn intern(&mut self, code: &str) -> u32 {
        if let Some(&id) = self.ids.get(code) {
            return id;
        }
        let id = self.codes.len() as u32;
        self.codes.push(code.to_owned());
        self.ids.insert(code.to_owned(), id);
        id
    }

    /// The id of an agency code, when it has been seen.
    pub(crate) fn id(&self, code: &str) -> Option<u32> {
        self.ids.get(code).copied()
    }

    /// Agency codes, indexed by id.
    pub(crate) fn codes(&self) -> &[String] {
        &self.codes
    }
}
