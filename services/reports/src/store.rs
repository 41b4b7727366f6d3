//! Published reports, frozen in the lake's own object store beside the tables
//! (`<lake>/reports/published/<scope>/<id>.json`, `<scope>` the agency's code or `province`):
//! every API node over one lake, and the CLI, see the same reports. Each is written once, whole
//! (one object put, refused when the name exists where the store can tell) and never
//! rewritten; the record holds the period, parameters, the lake version read, the definition's
//! text and every figure.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    self, ObjectStore, ObjectStoreExt as _, PutMode, PutPayload,
};
use futures::TryStreamExt as _;
use parwatch_lake::{EVENTS_TABLE, Lake};
use serde::{Deserialize, Serialize};

use crate::definition::Text;
use crate::render::{Ask, Figures};
use crate::{Error, Result};

/// The scope folder of province-wide reports.
const PROVINCE: &str = "province";

/// A published report: what was asked, read and written, frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Id: `<report>-<period>-<time>-<nonce>`.
    pub id: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// The token id of who published it.
    pub published_by: String,
    /// The definition's TOML text as published.
    pub definition: String,
    /// [`Figures::digest`] of `figures`.
    pub digest: String,
    /// Every figure, as published.
    pub figures: Figures,
}

/// A published report as lists show it (no figures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Id.
    pub id: String,
    /// The report's id.
    pub report: String,
    /// Its title.
    pub title: Text,
    /// Period and agency.
    #[serde(flatten)]
    pub ask: Ask,
    /// The Delta version of `events` read.
    pub lake_version: u64,
    /// The date whose units its figures are restated to; absent: as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units_date: Option<NaiveDate>,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: String,
    /// Fingerprint of its figures.
    pub digest: String,
}

impl Published {
    /// Freezes `figures` of the definition `definition` (its TOML text), published by `by`.
    pub fn new(figures: Figures, definition: &str, by: &str, at: DateTime<Utc>) -> Result<Self> {
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).map_err(|e| Error::Store(format!("random: {e}")))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let id = format!(
            "{}-{}-{}-{nonce}",
            figures.report,
            figures.ask.period,
            at.format("%Y%m%dT%H%M%SZ")
        );
        Ok(Self {
            id,
            published_at: at,
            published_by: by.to_owned(),
            definition: definition.to_owned(),
            digest: figures.digest(),
            figures,
        })
    }

    /// What lists show of it.
    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id.clone(),
            report: self.figures.report.clone(),
            title: self.figures.title.clone(),
            ask: self.figures.ask.clone(),
            lake_version: self.figures.lake_version,
            units_date: self.figures.units_date,
            published_at: self.published_at,
            published_by: self.published_by.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// The lake's object store and the folder `parts` under the lake's root in it, beside its
/// tables. Blocking (reads the events table's log once).
pub(crate) fn lake_folder(lake: &Lake, parts: &[&str]) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let table = lake.delta_table(EVENTS_TABLE)?;
    // The store unprefixed, with the lake's credentials and options: paths are the URL's.
    let store = table.log_store().root_object_store(None);
    let root = Path::from_url_path(lake.location().url().path())
        .map_err(|e| Error::Store(e.to_string()))?;
    Ok((
        store,
        parts.iter().fold(root, |path, part| path.join(*part)),
    ))
}

/// The published reports of one lake.
#[derive(Debug, Clone)]
pub struct Shelf {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

impl Shelf {
    /// The shelf of `lake`, in its object store. Blocking (reads the table's log once).
    pub fn open(lake: &Lake) -> Result<Self> {
        let (store, root) = lake_folder(lake, &["reports", "published"])?;
        Ok(Self { store, root })
    }

    fn scope_of(agency: Option<&str>) -> &str {
        agency.unwrap_or(PROVINCE)
    }

    fn path(&self, agency: Option<&str>, id: &str) -> Path {
        self.root
            .clone()
            .join(Self::scope_of(agency))
            .join(format!("{id}.json").as_str())
    }

    /// Stores `report`; never replaces one of the same id.
    pub async fn put(&self, report: &Published) -> Result<()> {
        let path = self.path(report.figures.ask.agency.as_deref(), &report.id);
        let bytes = serde_json::to_vec_pretty(report).expect("a report serializes");
        let payload = PutPayload::from(bytes);
        match self
            .store
            .put_opts(&path, payload.clone(), PutMode::Create.into())
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::Store(format!(
                "published report {} exists",
                report.id
            ))),
            // A store without conditional puts (S3 unless configured): the id is unique anyway.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store.put(&path, payload).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every published report within `scope` (an agency's own, or all when `None`), newest
    /// first; `report` keeps one report's.
    pub async fn list(&self, scope: Option<&str>, report: Option<&str>) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for path in self.paths(scope).await? {
            let published = self.read(&path).await?;
            if report.is_none_or(|r| r == published.figures.report) {
                out.push(published.summary());
            }
        }
        out.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// One published report by id, within `scope`.
    pub async fn get(&self, scope: Option<&str>, id: &str) -> Result<Published> {
        let name = format!("{id}.json");
        let path = self
            .paths(scope)
            .await?
            .into_iter()
            .find(|p| p.filename() == Some(name.as_str()))
            .ok_or_else(|| Error::NotPublished(id.to_owned()))?;
        self.read(&path).await
    }

    /// The report files within `scope`.
    async fn paths(&self, scope: Option<&str>) -> Result<Vec<Path>> {
        let prefix = match scope {
            Some(agency) => self.root.clone().join(agency),
            None => self.root.clone(),
        };
        let found: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(found
            .into_iter()
            .map(|m| m.location)
            .filter(|p| p.extension() == Some("json"))
            .collect())
    }

    async fn read(&self, path: &Path) -> Result<Published> {
        let bytes = self.store.get(path).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Store(format!("{path}: {e}")))
    }
}
