//! `parwatch simulate` and the demo publisher of `parwatch up --demo`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use chrono::{Days, Utc};
use parwatch_ingest::Backoff;
use parwatch_simulator::{Generator, Mode, Progress, Province, PublishOptions, SimOptions};
use tracing::info;

use crate::cli::{ProgressArg, SimulateArgs};

/// JetStream as a publisher: `identity` is the publishing system's key (none: a server
/// without authentication), the connection retried by `backoff`. Publishers do not manage the
/// stream; the worker or the administrator creates it.
async fn jetstream(
    url: &str,
    identity: Option<&parwatch_ingest::Identity>,
    backoff: &Backoff,
) -> anyhow::Result<jetstream::Context> {
    let client =
        parwatch_ingest::connect_retrying(url, "parwatch-simulate", identity, backoff).await?;
    Ok(jetstream::new(client))
}

/// Writes the agency names of the province simulated with `seed` to `path` as the CSV that
/// `--agencies` reads: every agency of the period, merged or created ones included, and the
/// service centres that receive dossiers. The file
/// appears whole or not at all, readable by the owner and its group only (0640), as the lake.
pub(crate) fn write_agency_names(seed: u64, path: &Path) -> anyhow::Result<()> {
    let write = || -> anyhow::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let partial = path.with_extension("csv.partial");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&partial)?;
        let mut out = csv::Writer::from_writer(file);
        out.write_record([parwatch_lake::AGENCY_COLUMN, "name"])?;
        let province = Province::new(seed);
        for agency in province.agencies() {
            out.write_record([&agency.code, &agency.name])?;
        }
        // The service centres name only where dossiers were received.
        for (code, name) in province.service_centres() {
            out.write_record([code, name])?;
        }
        out.flush()?;
        drop(out);
        std::fs::rename(&partial, path)?;
        Ok(())
    };
    write().with_context(|| format!("writing agency names to {}", path.display()))
}

pub(crate) async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.agencies_out {
        write_agency_names(args.seed, path)?;
    }
    let mode = if args.backfill {
        Mode::Backfill {
            from: args.from.context("--backfill needs --from")?,
            to: args.to,
        }
    } else {
        Mode::Live {
            start: Utc::now(),
            rate: args.rate,
            duration: Duration::from_secs(args.duration),
        }
    };
    let options = SimOptions {
        seed: args.seed,
        scale: args.scale,
        invalid_share: args.invalid_share,
        limit: args.count,
        mode,
    };
    let generator = Generator::new(&options)?;
    let progress = match args.progress {
        ProgressArg::Auto if std::io::stderr().is_terminal() => Progress::Bar,
        ProgressArg::Auto | ProgressArg::Log => Progress::Log,
        ProgressArg::Bar => Progress::Bar,
        ProgressArg::Quiet => Progress::Quiet,
    };
    let publish = PublishOptions {
        paced: !args.backfill,
        progress,
        expected: generator.estimated_len(),
        retry: args.nats.backoff(),
        ..PublishOptions::default()
    };
    let js = jetstream(
        &args.nats.url_or_default(),
        args.nats.identity()?.as_ref(),
        &publish.retry,
    )
    .await?;
    let stats = parwatch_simulator::publish(&js, generator, &publish).await?;
    println!(
        "published {} events ({} duplicates) in {:.1} s: {:.0} events/s; {} refused by the \
         stream for their size",
        stats.published,
        stats.duplicates,
        stats.elapsed.as_secs_f64(),
        stats.rate(),
        stats.refused
    );
    Ok(())
}

/// The demo province of `parwatch up --demo`: two years of history (unless the lake already
/// has events), then live events until shutdown.
pub(crate) struct Demo {
    pub(crate) nats_url: String,
    /// The demo publisher's key.
    pub(crate) identity: Option<parwatch_ingest::Identity>,
    pub(crate) backfill: bool,
    pub(crate) scale: u32,
    pub(crate) rate: f64,
    /// How connecting and unacknowledged publishes are retried.
    pub(crate) retry: Backoff,
}

/// Seed of the demo province: every demo shows the same province.
pub(crate) const DEMO_SEED: u64 = 2025;

impl Demo {
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        let js = jetstream(&self.nats_url, self.identity.as_ref(), &self.retry).await?;
        let today = parwatch_proto::local_date(Utc::now());
        let log = PublishOptions {
            progress: Progress::Log,
            retry: self.retry,
            ..PublishOptions::default()
        };
        if self.backfill {
            let from = today - Days::new(730);
            let options = SimOptions {
                scale: self.scale,
                ..SimOptions::backfill(DEMO_SEED, from, today - Days::new(1))
            };
            let generator = Generator::new(&options)?;
            info!(%from, to = %(today - Days::new(1)), expected = generator.estimated_len(), "demo: publishing two years of history");
            let stats = parwatch_simulator::publish(
                &js,
                generator,
                &PublishOptions {
                    expected: None,
                    ..log.clone()
                },
            )
            .await?;
            info!(
                events = stats.published,
                seconds = stats.elapsed.as_secs_f64(),
                rate = stats.rate() as u64,
                "demo: history published"
            );
        }
        let options = SimOptions {
            scale: self.scale,
            invalid_share: 0.002,
            mode: Mode::Live {
                start: Utc::now(),
                rate: self.rate,
                duration: Duration::from_secs(365 * 24 * 3600),
            },
            ..SimOptions::backfill(DEMO_SEED, today, today)
        };
        info!(rate = self.rate, "demo: publishing live events");
        let live = PublishOptions {
            paced: true,
            progress: Progress::Quiet,
            ..log
        };
        parwatch_simulator::publish(&js, Generator::new(&options)?, &live).await?;
        Ok(())
    }
}
