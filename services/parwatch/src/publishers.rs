//! `parwatch publisher` and the broker of `parwatch up`: who may publish, with which key.

use anyhow::Context;
use parwatch_ingest::{Identity, LocalNats, Publisher, Publishers};

use crate::cli::{PublisherAction, PublisherArgs, UpArgs};

/// Name of the publisher `up --demo` adds to its private server.
const DEMO_PUBLISHER: &str = "demo";

/// The NATS side of `parwatch up`: a private server (unless --nats-url), the worker's key and
/// the publishers it authorises, and the key the demo publishes with.
pub(crate) struct Broker {
    /// The private server, held to run as long as the broker is, and stopped when dropped.
    _server: Option<LocalNats>,
    /// Where NATS is.
    pub(crate) url: String,
    /// The worker's key.
    pub(crate) worker: Option<Identity>,
    /// Who may publish what.
    pub(crate) publishers: Publishers,
    /// The demo's publisher key (with --demo).
    pub(crate) demo: Option<Identity>,
}

impl Broker {
    /// With --nats-url: that server, --nats-nkey and --demo-nkey. Without: a private server in
    /// `<data-dir>/nats` with the publishers of the publishers file, plus a publisher `demo`
    /// (every agency, official assessments) with --demo.
    pub(crate) fn for_up(args: &UpArgs) -> anyhow::Result<Self> {
        let data_dir = &args.lake.data_dir;
        let file = args.worker.publishers_file(data_dir);
        let mut publishers = Publishers::load(&file)?;
        if let Some(url) = &args.nats.nats_url {
            let demo = match (&args.demo_nkey, args.demo) {
                (Some(path), true) => Some(Identity::load(path)?),
                (None, true) => anyhow::bail!(
                    "--demo with --nats-url needs --demo-nkey: a publisher's seed on that server"
                ),
                (_, false) => None,
            };
            return Ok(Self {
                _server: None,
                url: url.clone(),
                worker: args.nats.identity()?,
                publishers,
                demo,
            });
        }
        let store = data_dir.join("nats");
        let demo = if args.demo {
            let key = Identity::load_or_create(&store.join(format!("{DEMO_PUBLISHER}.nk")))?;
            publishers
                .add(Publisher {
                    name: DEMO_PUBLISHER.to_owned(),
                    nkey: key.public_key(),
                    agencies: vec!["*".to_owned()],
                    official: true,
                    note: Some("the simulated province of up --demo".to_owned()),
                })
                .with_context(|| {
                    format!("adding the demo publisher to those of {}", file.display())
                })?;
            Some(key)
        } else {
            None
        };
        let local = LocalNats::start_retrying(
            &store,
            free_port()?,
            &publishers,
            &args.worker.stream_limits(),
            parwatch_ingest::Partitions::default(),
            &args.nats.backoff(),
        )
        .context("starting a local nats-server")?;
        Ok(Self {
            url: local.url(),
            worker: Some(Identity::load(&local.ingest_key())?),
            _server: Some(local),
            publishers,
            demo,
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// `parwatch publisher`.
pub(crate) fn publisher(args: PublisherArgs) -> anyhow::Result<()> {
    let data_dir = &args.lake.data_dir;
    let file = args
        .publishers
        .clone()
        .unwrap_or_else(|| data_dir.join("publishers.toml"));
    let mut publishers = Publishers::load(&file)?;
    match args.action {
        PublisherAction::Add {
            name,
            agencies,
            official,
            note,
            key_out,
        } => {
            let key_out =
                key_out.unwrap_or_else(|| data_dir.join("publishers").join(format!("{name}.nk")));
            let key = Identity::create(&key_out)?;
            let added = publishers.add(Publisher {
                name: name.clone(),
                nkey: key.public_key(),
                agencies,
                official,
                note,
            });
            if let Err(e) = added {
                // A refused entry leaves no stray seed.
                let _ = std::fs::remove_file(&key_out);
                return Err(e.into());
            }
            publishers.save(&file)?;
            eprintln!(
                "publisher {name} added to {}; its seed is {} (mode 0600): give it to the \
                 system, which connects with it and publishes on par.events.v1.<type>. Then \
                 regenerate the server's accounts (parwatch publisher nats-config) and reload \
                 nats-server.",
                file.display(),
                key_out.display()
            );
            println!("{}", key.public_key());
        }
        PublisherAction::List => {
            for p in &publishers.list {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    p.name,
                    p.nkey,
                    p.agencies.join(","),
                    if p.official { "official" } else { "-" },
                    p.note.as_deref().unwrap_or("")
                );
            }
        }
        PublisherAction::NatsConfig { partitions } => {
            let store = data_dir.join("nats");
            let ingest = Identity::load_or_create(&store.join("ingest.nk"))?;
            let admin = Identity::load_or_create(&store.join("admin.nk"))?;
            print!(
                "{}",
                parwatch_ingest::publishers::accounts_config(
                    &publishers,
                    &ingest.public_key(),
                    &admin.public_key(),
                    parwatch_ingest::Partitions::new(partitions)?,
                    parwatch_ingest::CONSUMER_NAME,
                )
            );
            eprintln!(
                "worker key: {} (parwatch ingest --nats-nkey); administrator key: {}",
                ingest.path().display(),
                admin.path().display()
            );
        }
    }
    Ok(())
}
