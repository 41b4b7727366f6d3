//! Where the lake is: a folder on the local disk (the default, `<data-dir>/lake`) or a prefix
//! in an S3-compatible store (`s3://bucket/prefix`), with the options its client needs. One
//! code path serves both: every table is opened through object_store by its URL.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::DeltaTableBuilder;
use url::Url;

use crate::error::{Error, Result};
use crate::local_log::LocalLog;

/// The lake's root URL and the options of its object store client.
#[derive(Clone, PartialEq, Eq)]
pub struct LakeLocation {
    url: Url,
    options: HashMap<String, String>,
}

impl LakeLocation {
    /// A lake in the local folder `dir`, created when missing.
    pub fn local(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let dir = std::fs::canonicalize(dir).map_err(Error::io(dir))?;
        let url = Url::from_directory_path(&dir)
            .map_err(|()| Error::Location(format!("{} is not an absolute path", dir.display())))?;
        Ok(Self {
            url,
            options: HashMap::new(),
        })
    }

    /// A lake at `spec`: an `s3://bucket/prefix` or `file:///…` URL, or a local path.
    /// Credentials of an S3 store come from the usual `AWS_*` environment variables.
    pub fn parse(spec: &str) -> Result<Self> {
        match Url::parse(spec) {
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| Error::Location(format!("{spec}: not a local path")))?;
                Self::local(&path)
            }
            Ok(mut url) if matches!(url.scheme(), "s3" | "s3a") => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(Error::Location(format!("{spec}: the URL names no bucket")));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                Ok(Self {
                    url,
                    options: HashMap::new(),
                })
            }
            Ok(url) if url.scheme().len() > 1 => Err(Error::Location(format!(
                "{spec}: unsupported scheme {} (a path, file:// or s3://)",
                url.scheme()
            ))),
            // A relative path, or a Windows-like one with a drive letter.
            _ => Self::local(Path::new(spec)),
        }
    }

    /// Adds object store options (`AWS_ENDPOINT_URL`, `AWS_REGION`, …); later ones win.
    pub fn with_options(mut self, options: impl IntoIterator<Item = (String, String)>) -> Self {
        self.options.extend(options);
        if self
            .options
            .get("AWS_ENDPOINT_URL")
            .is_some_and(|e| e.starts_with("http://"))
        {
            self.options
                .entry("AWS_ALLOW_HTTP".to_owned())
                .or_insert_with(|| "true".to_owned());
        }
        self
    }

    /// The root URL (ends with `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The folder of a local lake; `None` for an object store.
    pub fn local_dir(&self) -> Option<PathBuf> {
        match self.url.scheme() {
            "file" => self.url.to_file_path().ok(),
            _ => None,
        }
    }

    /// The URL of an entry (a table's folder, a snapshot) under the root.
    pub(crate) fn join(&self, name: &str) -> Url {
        self.url
            .join(name)
            .expect("a table name is a valid URL path")
    }

    /// A delta-rs builder of the table (or folder) `name` under the root, with the store's
    /// options; a local lake's through [`LocalLog`], which lists a log after an offset by name.
    pub(crate) fn builder(&self, name: &str) -> Result<DeltaTableBuilder> {
        let url = self.join(name);
        let builder =
            DeltaTableBuilder::from_url(url.clone())?.with_storage_options(self.options.clone());
        Ok(match self.url.scheme() {
            "file" => builder.with_storage_backend(Arc::new(LocalLog::default()), url),
            _ => builder,
        })
    }
}

impl fmt::Display for LakeLocation {
    /// The URL, which never holds credentials (they are options).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for LakeLocation {
    /// The URL and the names of the options, never their values (secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.options.keys().collect();
        keys.sort();
        f.debug_struct("LakeLocation")
            .field("url", &self.url.as_str())
            .field("options", &keys)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart() {
        let tmp = std::env::temp_dir().join(format!("parwatch-location-{}", std::process::id()));
        let local = LakeLocation::parse(tmp.to_str().unwrap()).unwrap();
        assert_eq!(local.url().scheme(), "file");
        assert!(local.url().as_str().ends_with('/'));
        assert_eq!(
            local.local_dir().unwrap(),
            std::fs::canonicalize(&tmp).unwrap()
        );
        std::fs::remove_dir_all(&tmp).unwrap();

        let s3 = LakeLocation::parse("s3://bucket/province/lake").unwrap();
        assert_eq!(s3.url().as_str(), "s3://bucket/province/lake/");
        assert_eq!(
            s3.join("events").as_str(),
            "s3://bucket/province/lake/events"
        );
        assert_eq!(s3.local_dir(), None);
        let s3 = s3.with_options([("AWS_SECRET_ACCESS_KEY".to_owned(), "very-secret".to_owned())]);
        assert!(!format!("{s3:?} {s3}").contains("very-secret"));

        for bad in ["s3:///no-bucket", "ftp://host/lake"] {
            let err = LakeLocation::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
