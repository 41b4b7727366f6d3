//! `parwatch report`: periodic CCHC reports from the command line — check definitions,
//! preview a period, publish (frozen in the lake's object store, as the API's publish does),
//! list and show published reports, export them to XLSX, reproduce them at their recorded
//! version, and say what changed since.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use parwatch_metrics::Projector;
use parwatch_reports::{Ask, Definition, Figures, Lang, Published, Shelf};

use crate::cli::{LakeArgs, ParArgs, ReportsArgs};

/// `parwatch report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    par: ParArgs,
    #[command(flatten)]
    reports: ReportsArgs,
    #[command(subcommand)]
    action: ReportAction,
}

/// What to do with reports.
#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Checks the definitions and lists them.
    Check,
    /// Prints a report's figures for a period as they stand now (JSON), or writes them to
    /// --xlsx and --pdf.
    Preview {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        files: Files,
    },
    /// Publishes a report: its figures now, the lake version read and the definition, frozen
    /// in the lake's object store; prints the published report's id.
    Publish {
        #[command(flatten)]
        run: RunArgs,
        /// Who publishes, recorded with the report.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Lists the published reports, newest first.
    Published {
        /// Only this report's.
        #[arg(long)]
        report: Option<String>,
        /// Only this agency's.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Prints a published report (JSON), or writes it to --xlsx and --pdf.
    Show {
        /// The published report's id.
        id: String,
        #[command(flatten)]
        files: Files,
    },
    /// Runs a published report again at its recorded version with its recorded definition;
    /// exits non-zero unless the figures are byte-identical.
    Reproduce {
        /// The published report's id.
        id: String,
    },
    /// Prints a published report's figures now beside the published ones, with the events
    /// ingested since that changed them (JSON).
    Changes {
        /// The published report's id.
        id: String,
    },
}

/// The report and what it is run for.
#[derive(Debug, Args)]
struct RunArgs {
    /// The report's id, e.g. province or department.
    id: String,
    /// The period: 2024, 2024-H1, 2024-Q1 or 2024-03.
    #[arg(long)]
    period: String,
    /// The agency of an agency report.
    #[arg(long)]
    agency: Option<String>,
}

fn lang(text: &str) -> anyhow::Result<Lang> {
    match text {
        "vi" => Ok(Lang::Vi),
        "en" => Ok(Lang::En),
        other => anyhow::bail!("--lang {other:?}: expected vi or en"),
    }
}

/// Runs `parwatch report`.
pub(crate) async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let catalogue = args.reports.catalogue()?;
    if let ReportAction::Check = args.action {
        for d in catalogue.iter() {
            println!("{}\t{:?}\t{}", d.id, d.subject, d.title.vi);
        }
        return Ok(());
    }
    let models = Arc::new(crate::par_models(&args.par)?);
    let lake = args.lake.open()?;
    let shelf = {
        let lake = lake.clone();
        tokio::task::spawn_blocking(move || Shelf::open(&lake)).await??
    };
    let now = |run: RunArgs| {
        let definition = catalogue.get(&run.id).cloned();
        let (lake, models) = (lake.clone(), Arc::clone(&models));
        async move {
            let definition = definition?;
            let ask = Ask {
                period: run.period.parse()?,
                agency: run.agency,
            };
            tokio::task::spawn_blocking(move || {
                let projector = Projector::load(lake)?;
                let figures = parwatch_reports::run(&definition, &ask, &projector, None, &models)?;
                anyhow::Ok((definition, figures))
            })
            .await?
        }
    };
    match args.action {
        ReportAction::Check => unreachable!("answered above"),
        ReportAction::Preview { run, files } => {
            let (definition, figures) = now(run).await?;
            write(&definition, &figures, None, &files)
        }
        ReportAction::Publish { run, by } => {
            let (definition, figures) = now(run).await?;
            let published = Published::new(figures, &definition.source, &by, chrono::Utc::now())?;
            shelf.put(&published).await?;
            println!("{}", published.id);
            eprintln!(
                "published at lake version {}, figures {}",
                published.figures.lake_version, published.digest
            );
            Ok(())
        }
        ReportAction::Published { report, agency } => {
            for s in shelf.list(agency.as_deref(), report.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\tversion {}\t{}\t{}",
                    s.id,
                    s.ask.period,
                    s.ask.agency.as_deref().unwrap_or("province"),
                    s.lake_version,
                    s.published_at.to_rfc3339(),
                    s.published_by
                );
            }
            Ok(())
        }
        ReportAction::Show { id, files } => {
            let published = shelf.get(None, &id).await?;
            let definition = parwatch_reports::parse(
                &published.figures.report,
                &published.id,
                &published.definition,
            )?;
            write(&definition, &published.figures, Some(&published), &files)
        }
        ReportAction::Reproduce { id } => {
            let published = shelf.get(None, &id).await?;
            let record = published.clone();
            let again = tokio::task::spawn_blocking(move || {
                parwatch_reports::reproduce(&record, &Projector::new(lake), &models)
            })
            .await??;
            if again.digest() != published.digest {
                anyhow::bail!(
                    "{id}: figures at version {} differ from those published ({} ≠ {})",
                    published.figures.lake_version,
                    again.digest(),
                    published.digest
                );
            }
            println!(
                "{id}: identical at lake version {} (figures {})",
                published.figures.lake_version, published.digest
            );
            Ok(())
        }
        ReportAction::Changes { id } => {
            let published = shelf.get(None, &id).await?;
            let definition = parwatch_reports::parse(
                &published.figures.report,
                &published.id,
                &published.definition,
            )?;
            let comparison = tokio::task::spawn_blocking(move || {
                let projector = Projector::load(lake.clone())?;
                let ask = published.figures.ask.clone();
                let now = parwatch_reports::run(&definition, &ask, &projector, None, &models)?;
                anyhow::Ok(parwatch_reports::compare(&published, now, &lake)?)
            })
            .await??;
            println!("{}", serde_json::to_string_pretty(&comparison)?);
            Ok(())
        }
    }
}

/// Where to write exports, and in which language.
#[derive(Debug, Args)]
pub(crate) struct Files {
    /// Writes an XLSX workbook here.
    #[arg(long)]
    xlsx: Option<PathBuf>,
    /// Writes a PDF document here (A4, the national document layout).
    #[arg(long)]
    pdf: Option<PathBuf>,
    /// Language of the exports: vi or en.
    #[arg(long, default_value = "vi")]
    lang: String,
}

/// Writes the exports asked for, or prints `figures` (or the published record) as JSON.
fn write(
    definition: &Definition,
    figures: &Figures,
    published: Option<&Published>,
    files: &Files,
) -> anyhow::Result<()> {
    let lang = lang(&files.lang)?;
    let save = |path: &PathBuf, bytes: Vec<u8>| {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
        anyhow::Ok(())
    };
    if let Some(path) = &files.xlsx {
        let stamp = published.map(|p| (p.id.as_str(), p.published_at.date_naive()));
        save(path, parwatch_reports::xlsx(figures, lang, stamp)?)?;
    }
    if let Some(path) = &files.pdf {
        let date = published.map(|p| p.published_at.date_naive());
        save(
            path,
            parwatch_reports::pdf(definition, figures, lang, date)?,
        )?;
    }
    if files.xlsx.is_none() && files.pdf.is_none() {
        match published {
            Some(p) => println!("{}", serde_json::to_string_pretty(p)?),
            None => println!("{}", serde_json::to_string_pretty(figures)?),
        }
    }
    Ok(())
}
