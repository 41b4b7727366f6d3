//! Who may publish, and what: the province's publishing systems, their NATS identities, and the
//! nats-server accounts that make the broker itself tell the worker who published each message.
//!
//! Each publishing system has its own NATS account holding one user, known to the server by the
//! public half of an ed25519 key pair (an nkey; the secret seed never leaves the system). Its
//! account imports one service of the `PARWATCH` account, mapping the public subjects
//! `par.events.v1.<type>` it publishes on to `par.in.<publisher>.events.v1.<type>` in
//! `PARWATCH`, where the stream captures them. A publisher cannot choose the `<publisher>`
//! token, has no JetStream API of its own and none of `PARWATCH`'s, and its publish
//! acknowledgements come back through the import. The worker reads the publisher from the
//! subject and checks each event against the publisher's entry in `publishers.toml`.

use std::io::Write;
use std::path::{Path, PathBuf};

use nkeys::KeyPair;
use parwatch_proto::{Assessor, Event, EventData, Fault, Rejection, SUBJECT_PREFIX};
use serde::{Deserialize, Serialize};

use crate::partitions::{Partitions, unpartitioned};
use crate::{Error, Result};

/// Subjects of the stream: `par.in.<publisher>.events.v1.<type>`.
pub const STREAM_SUBJECTS: &str = "par.in.*.events.v1.>";

/// Prefix of every subject the stream holds; the publisher's name follows.
const INBOUND_PREFIX: &str = "par.in.";

/// Name of the account holding the stream, the worker and the administrator.
pub const PARWATCH_ACCOUNT: &str = "PARWATCH";

/// Inbox prefix of the worker's connection: its subscribe permission covers only its own.
pub const INGEST_INBOX_PREFIX: &str = "_INBOX_ingest";

/// The publishing systems of `publishers.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publishers {
    /// One entry per publishing system.
    #[serde(default, rename = "publisher")]
    pub list: Vec<Publisher>,
}

/// One publishing system (`[[publisher]]` in `publishers.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    /// Its name: 1–32 lowercase ASCII letters, digits and `-`; a token of its subjects.
    pub name: String,
    /// The public nkey of its NATS user (`U…`); the seed stays with the system.
    pub nkey: String,
    /// Agencies it publishes for: codes, or prefixes ending in `*` (`000.00.17.*`; `*` alone
    /// is every agency).
    pub agencies: Vec<String>,
    /// Whether it may publish official assessments: `par.score` events whose assessor is
    /// `appraisal`, `inspection` or `survey`. Self-assessments need no such right.
    #[serde(default)]
    pub official: bool,
    /// Who runs it, for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Publisher {
    /// Whether its agency patterns cover `agency_code`.
    pub fn covers(&self, agency_code: &str) -> bool {
        self.agencies
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => agency_code.starts_with(prefix),
                None => pattern == agency_code,
            })
    }

    fn check(&self) -> std::result::Result<(), String> {
        let name_ok = (1..=32).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "publisher name {:?} must be 1–32 lowercase letters, digits or '-'",
                self.name
            ));
        }
        if !self.nkey.starts_with('U') || KeyPair::from_public_key(&self.nkey).is_err() {
            return Err(format!(
                "publisher {}: nkey {:?} is not a user's public nkey (U…)",
                self.name, self.nkey
            ));
        }
        if self.agencies.is_empty() {
            return Err(format!(
                "publisher {}: agencies is empty (give codes or prefixes ending in '*')",
                self.name
            ));
        }
        for pattern in &self.agencies {
            let body = pattern.strip_suffix('*').unwrap_or(pattern);
            let valid = body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                && (!body.is_empty() || pattern == "*");
            if !valid {
                return Err(format!(
                    "publisher {}: agency pattern {pattern:?} must be a code of ASCII letters, \
                     digits, '.', '-', '_', optionally ending in '*'",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

impl Publishers {
    /// Reads `publishers.toml`; a missing file is an empty list (nobody may publish).
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::Config(format!("reading {}: {e}", path.display()))),
        };
        let publishers: Self =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        publishers
            .check()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(publishers)
    }

    /// Writes the list to `path` (aside, then renamed into place; 0640).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::Config(e.to_string()))?;
        let header = "# Publishing systems allowed to send events to ParWatch (parwatch publisher add).\n\
                      # nkey: the public key of the system's NATS user; its seed stays with the system.\n\n";
        write_file(path, format!("{header}{text}").as_bytes(), 0o640)
    }

    fn check(&self) -> std::result::Result<(), String> {
        for (i, publisher) in self.list.iter().enumerate() {
            publisher.check()?;
            if self.list[..i].iter().any(|p| p.name == publisher.name) {
                return Err(format!("publisher {} appears twice", publisher.name));
            }
            if self.list[..i].iter().any(|p| p.nkey == publisher.nkey) {
                return Err(format!(
                    "publisher {} has the nkey of another publisher",
                    publisher.name
                ));
            }
        }
        Ok(())
    }

    /// Adds a publisher, refusing a name or key already present.
    pub fn add(&mut self, publisher: Publisher) -> Result<()> {
        self.list.push(publisher);
        if let Err(e) = self.check() {
            self.list.pop();
            return Err(Error::Config(e));
        }
        Ok(())
    }

    /// The publisher named `name`.
    pub fn get(&self, name: &str) -> Option<&Publisher> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The publisher a stored subject (`par.in.<publisher>.events.v1.<type>`, or a partition's
    /// `par.p.<k>.in.…`) names, and the public subject (`par.events.v1.<type>`) to validate the
    /// event against; a subject naming no publisher, or one not in the list, is a rejection.
    pub fn publisher_of(
        &self,
        subject: &str,
    ) -> std::result::Result<(&Publisher, String), Rejection> {
        let unattributed = || {
            Rejection::new(
                "subject",
                Fault::Unauthorized,
                format!(
                    "subject {subject:?} names no publisher (expected {INBOUND_PREFIX}<publisher>.events.v1.<type>)"
                ),
            )
        };
        let unpartitioned = unpartitioned(subject);
        let rest = unpartitioned
            .strip_prefix(INBOUND_PREFIX)
            .ok_or_else(unattributed)?;
        let (name, public) = rest.split_once('.').ok_or_else(unattributed)?;
        let publisher = self.get(name).ok_or_else(|| {
            Rejection::new(
                "subject",
                Fault::Unauthorized,
                format!("publisher {name:?} is not in the publishers list"),
            )
        })?;
        Ok((publisher, format!("par.{public}")))
    }
}

/// Checks that `publisher` may publish `event`: its agency is one the publisher covers, and an
/// official assessment or a registry event (`agency.*`, an official decision) comes from a
/// publisher allowed them, covering every agency the registry event names. Every other type
/// (the dossier events, the 766 index's, petitions and catalogue facts) needs only the agency:
/// the one-stop systems, the portal and the payment platform send them.
pub fn authorize(publisher: &Publisher, event: &Event<'_>) -> std::result::Result<(), Rejection> {
    if !publisher.covers(&event.agency_code) {
        return Err(Rejection::new(
            "agency_code",
            Fault::Unauthorized,
            format!(
                "publisher {} may not publish for agency {} (it may for: {})",
                publisher.name,
                event.agency_code,
                publisher.agencies.join(", ")
            ),
        ));
    }
    if let EventData::ParScore { assessor, .. } = &event.data
        && *assessor != Assessor::SelfAssessment
        && !publisher.official
    {
        return Err(Rejection::new(
            "data.assessor",
            Fault::Unauthorized,
            format!(
                "publisher {} may not publish official assessments (assessor {assessor})",
                publisher.name
            ),
        ));
    }
    if event.event_type().is_registry() {
        if !publisher.official {
            return Err(Rejection::new(
                "type",
                Fault::Unauthorized,
                format!(
                    "publisher {} may not publish registry events ({}): they need an official publisher",
                    publisher.name,
                    event.event_type()
                ),
            ));
        }
        if let Some(code) = event
            .data
            .named_agencies()
            .into_iter()
            .find(|code| !publisher.covers(code))
        {
            return Err(Rejection::new(
                "data",
                Fault::Unauthorized,
                format!(
                    "publisher {} may not publish for agency {code} (it may for: {})",
                    publisher.name,
                    publisher.agencies.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A NATS identity: an nkey seed in a file only its owner can read.
#[derive(Debug, Clone)]
pub struct Identity {
    path: PathBuf,
    pair: std::sync::Arc<KeyPair>,
}

impl Identity {
    /// Reads the seed in `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("reading the nkey seed {}: {e}", path.display())))?;
        let pair = KeyPair::from_seed(seed.trim())
            .map_err(|e| Error::Config(format!("{}: not an nkey seed: {e}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            pair: pair.into(),
        })
    }

    /// Reads the seed in `path`, first creating a new user key pair there (mode 0600) when the
    /// file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if !path.exists() {
            Self::create(path)?;
        }
        Self::load(path)
    }

    /// Creates a new user key pair and writes its seed to `path` (mode 0600); refuses to
    /// overwrite a file.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(Error::Config(format!(
                "{} exists: refusing to overwrite a key",
                path.display()
            )));
        }
        let pair = KeyPair::new_user();
        let seed = pair
            .seed()
            .map_err(|e| Error::Config(format!("new nkey: {e}")))?;
        write_file(path, format!("{seed}\n").as_bytes(), 0o600)?;
        Ok(Self {
            path: path.to_owned(),
            pair: pair.into(),
        })
    }

    /// The public key (`U…`), what the server's configuration names.
    pub fn public_key(&self) -> String {
        self.pair.public_key()
    }

    /// The seed, for [`async_nats::ConnectOptions::nkey`].
    pub(crate) fn seed(&self) -> Result<String> {
        self.pair
            .seed()
            .map_err(|e| Error::Config(format!("{}: {e}", self.path.display())))
    }

    /// The seed file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `bytes` to `path` with `mode`, aside and renamed into place, creating the directory.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| Error::Config(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&partial)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}

/// The accounts of a ParWatch nats-server, as configuration text for `nats-server.conf`
/// (`accounts { … }`): `PARWATCH` with the worker (`ingest`, consuming through `consumer` of
/// the partitions' streams only, and holding their leases) and the administrator (`admin`,
/// everything), the mapping of subjects to partitions, and one account per publisher.
pub fn accounts_config(
    publishers: &Publishers,
    ingest: &str,
    admin: &str,
    partitions: Partitions,
    consumer: &str,
) -> String {
    let api = "$JS.API";
    let mut ingest_publish = vec![format!("{api}.INFO")];
    for stream in partitions.streams() {
        ingest_publish.extend([
            format!("{api}.STREAM.INFO.{stream}"),
            format!("{api}.STREAM.CREATE.{stream}"),
            format!("{api}.CONSUMER.INFO.{stream}.{consumer}"),
            format!("{api}.CONSUMER.CREATE.{stream}.{consumer}"),
            format!("{api}.CONSUMER.CREATE.{stream}.{consumer}.>"),
            format!("{api}.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"),
            // Created again at its ack floor when a worker that stopped held messages.
            format!("{api}.CONSUMER.DELETE.{stream}.{consumer}"),
            format!("{api}.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
        ]);
    }
    if partitions.split() {
        let leases = crate::leases::BUCKET;
        ingest_publish.extend([
            format!("{api}.STREAM.INFO.KV_{leases}"),
            format!("{api}.STREAM.CREATE.KV_{leases}"),
            format!("{api}.STREAM.MSG.GET.KV_{leases}"),
            format!("{api}.DIRECT.GET.KV_{leases}.>"),
            format!("$KV.{leases}.>"),
        ]);
    }
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    out.push_str("# Generated by parwatch from publishers.toml: edit that file, not this one.\n");
    out.push_str("accounts {\n");
    out.push_str(&format!(
        "  {PARWATCH_ACCOUNT}: {{\n    jetstream: enabled\n    users: [\n"
    ));
    out.push_str(&format!(
        "      # The ingest worker: consumes its streams through its durable consumer {consumer:?}, nothing else.\n      \
         {{nkey: {ingest:?}, permissions: {{publish: {{allow: [{}]}}, subscribe: {{allow: [{:?}]}}}}}}\n",
        list(&ingest_publish),
        format!("{INGEST_INBOX_PREFIX}.>"),
    ));
    out.push_str(&format!(
        "      # The administrator: the only user that may read, purge or delete the stream.\n      \
         {{nkey: {admin:?}}}\n    ]\n"
    ));
    if let Some(mappings) = partitions.mappings() {
        out.push_str(&format!("    {mappings}\n"));
    }
    out.push_str("    exports: [\n");
    for p in &publishers.list {
        out.push_str(&format!(
            "      {{service: \"{INBOUND_PREFIX}{name}.events.v1.>\", accounts: [{account:?}]}}\n",
            name = p.name,
            account = account_name(&p.name),
        ));
    }
    out.push_str("    ]\n  }\n");
    for p in &publishers.list {
        out.push_str(&format!(
            "  # {note}\n  {account:?}: {{\n    users: [{{nkey: {nkey:?}, permissions: {{publish: {{allow: [\"{SUBJECT_PREFIX}>\"]}}, subscribe: {{allow: [\"_INBOX.>\"]}}}}}}]\n    \
             imports: [{{service: {{account: {PARWATCH_ACCOUNT}, subject: \"{INBOUND_PREFIX}{name}.events.v1.>\"}}, to: \"{SUBJECT_PREFIX}>\"}}]\n  }}\n",
            note = p.note.as_deref().unwrap_or(&p.name).replace('\n', " "),
            account = account_name(&p.name),
            nkey = p.nkey,
            name = p.name,
        ));
    }
    out.push_str("}\n");
    out
}

/// The NATS account of publisher `name`.
fn account_name(name: &str) -> String {
    format!("PUB_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(name: &str, agencies: &[&str], official: bool) -> Publisher {
        Publisher {
            name: name.to_owned(),
            nkey: KeyPair::new_user().public_key(),
            agencies: agencies.iter().map(|a| a.to_string()).collect(),
            official,
            note: None,
        }
    }

    #[test]
    fn registry_events_need_an_official_publisher_covering_every_agency_named() {
        use parwatch_proto::testing::TestEvent;
        let merger = TestEvent::merged("H02.20", "2025-03-01")
            .agency("H02.10")
            .build();
        let office = publisher("motcua", &["H02.*"], false);
        let err = authorize(&office, &merger).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.fault),
            ("type", Fault::Unauthorized)
        );
        assert!(authorize(&publisher("ubnd", &["H02.*"], true), &merger).is_ok());
        // The target is outside what the publisher covers.
        let err = authorize(&publisher("ubnd", &["H02.10"], true), &merger).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.fault),
            ("data", Fault::Unauthorized)
        );
        assert!(err.rule.contains("H02.20"), "{err}");
    }

    #[test]
    fn the_766_events_need_only_the_agency() {
        use parwatch_proto::EventType;
        use parwatch_proto::testing::TestEvent;
        let office = publisher("motcua", &["H02.*"], false);
        for &ty in EventType::ALL.iter().filter(|t| t.needs_procedure()) {
            let event = TestEvent::new(ty).agency("H02.10").build();
            assert!(authorize(&office, &event).is_ok(), "{ty}");
            let elsewhere = TestEvent::new(ty).agency("H03.10").build();
            assert_eq!(
                authorize(&office, &elsewhere).unwrap_err().fault,
                Fault::Unauthorized,
                "{ty}"
            );
        }
    }

    #[test]
    fn patterns_cover_codes_and_prefixes() {
        let p = publisher("motcua", &["000.00.17.*", "SO-TP"], false);
        assert!(p.covers("000.00.17.H02"));
        assert!(p.covers("SO-TP"));
        assert!(!p.covers("000.00.16.H02"));
        assert!(!p.covers("SO-TP2"));
        assert!(publisher("all", &["*"], false).covers("anything"));
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_reason() {
        let mut list = Publishers::default();
        list.add(publisher("motcua", &["*"], false)).unwrap();
        let twice = list.add(publisher("motcua", &["*"], false)).unwrap_err();
        assert!(twice.to_string().contains("appears twice"), "{twice}");
        let bad_name = list.add(publisher("Mot Cua", &["*"], false)).unwrap_err();
        assert!(bad_name.to_string().contains("lowercase"), "{bad_name}");
        let bad_pattern = list
            .add(publisher("x", &["0\u{200b}*"], false))
            .unwrap_err();
        assert!(
            bad_pattern.to_string().contains("agency pattern"),
            "{bad_pattern}"
        );
        let mut wrong_key = publisher("y", &["*"], false);
        wrong_key.nkey = KeyPair::new_account().public_key();
        assert!(list.add(wrong_key).is_err());
        assert_eq!(list.list.len(), 1);
    }

    #[test]
    fn the_list_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publishers.toml");
        assert_eq!(Publishers::load(&path).unwrap(), Publishers::default());
        let mut list = Publishers::default();
        list.add(publisher("motcua", &["000.00.17.*"], false))
            .unwrap();
        list.add(publisher("appraisal", &["*"], true)).unwrap();
        list.save(&path).unwrap();
        assert_eq!(Publishers::load(&path).unwrap(), list);
        std::fs::write(&path, "[[publisher]]\nname = \"x\"\n").unwrap();
        let err = Publishers::load(&path).unwrap_err().to_string();
        assert!(err.contains("publishers.toml"), "{err}");
    }

    #[test]
    fn the_publisher_is_read_from_the_subject() {
        let mut list = Publishers::default();
        list.add(publisher("motcua", &["*"], false)).unwrap();
        // As stored by the one stream, and by a partition's.
        for stored in [
            "par.in.motcua.events.v1.dossier.late",
            "par.p.2.in.motcua.events.v1.dossier.late",
        ] {
            let (p, public) = list.publisher_of(stored).unwrap();
            assert_eq!(
                (p.name.as_str(), public.as_str()),
                ("motcua", "par.events.v1.dossier.late")
            );
        }
        for subject in [
            "par.events.v1.dossier.late",
            "par.in.other.events.v1.dossier.late",
            "par.p.2.in.other.events.v1.dossier.late",
            "par.p.x.in.motcua.events.v1.dossier.late",
            "par.in",
        ] {
            let err = list.publisher_of(subject).map(|_| ()).unwrap_err();
            assert_eq!(err.fault, Fault::Unauthorized, "{subject}");
        }
    }

    #[test]
    fn seeds_are_written_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/ingest.nk");
        let created = Identity::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            Identity::load_or_create(&path).unwrap().public_key(),
            created.public_key()
        );
        assert!(Identity::create(&path).is_err(), "never overwritten");
    }
}
