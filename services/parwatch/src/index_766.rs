//! `parwatch index-766 import`: loads the national portal's published 766 figures (its monthly
//! table as CSV, docs/index-766.md) into the lake's object store, one object per month, for
//! `/api/v1/index-766/reconcile` to compare with the index ParWatch computes.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use parwatch_reports::{PortalShelf, parse_portal_csv};

use crate::cli::LakeArgs;

/// Largest CSV file read.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// `parwatch index-766`.
#[derive(Debug, Args)]
pub(crate) struct Index766Args {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(subcommand)]
    action: Index766Action,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Index766Action {
    /// Imports the portal's published figures: CSV with the header
    /// `period,agency_code,indicator,points` (a month, an agency, an indicator's code or
    /// `total`, its points). Each month in the file replaces the figures imported for it before.
    Import {
        /// The CSV file.
        #[arg(long)]
        file: PathBuf,
    },
}

/// Runs `parwatch index-766`.
pub(crate) async fn index_766(args: Index766Args) -> anyhow::Result<()> {
    match args.action {
        Index766Action::Import { file } => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            anyhow::ensure!(
                size <= MAX_FILE_BYTES,
                "{}: {size} bytes, more than {MAX_FILE_BYTES}",
                file.display()
            );
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let periods = parse_portal_csv(&text, &name, chrono::Utc::now())?;
            let lake = args.lake.open()?;
            let shelf = tokio::task::spawn_blocking(move || PortalShelf::open(&lake)).await??;
            for figures in &periods {
                shelf.put(figures).await?;
                println!("{} {} figures", figures.period, figures.figures.len());
            }
            Ok(())
        }
    }
}
