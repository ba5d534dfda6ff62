//! config-reloader binary: the environment into a validated config, then one pass
//! (`CONFIG_RELOAD_FREQUENCY=0`) or a pass every interval, with `/health` and `/metrics`.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::Parser;
use config_reloader::config::{Cli, Config};
use config_reloader::metrics::Metrics;
use config_reloader::reload::{self, Acceptance, Backoff, MainConfig};
use config_reloader::source::ConfigSource;
use config_reloader::sync::Syncer;
use prometheus_client::registry::Registry;
use stack_common::cloudmap::{self, CloudMap};
use stack_common::listen::Listen;
use stack_common::shutdown::Shutdown;
use stack_common::{aws, http, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::try_from(Cli::parse())?;
    telemetry::init(config.log_format, "info");
    if !config.dir.is_dir() {
        bail!(
            "CONFIG_FILE_DIR {} is not a directory: create it, or mount the shared volume there",
            config.dir.display()
        );
    }
    let shutdown = Shutdown::on_signals().context("cannot install signal handlers")?;

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let sdk = aws::load(None, aws::Timeouts::default()).await;
    aws::require_region(&sdk)?;
    let mut syncer = Syncer {
        source: ConfigSource::new(&config.source, &sdk, config.max_object_bytes),
        cloudmap: CloudMap::new(aws_sdk_servicediscovery::Client::from_conf(
            cloudmap::client_config(&sdk).build(),
        )),
        dir: config.dir.clone(),
        file_name: config.file_name.clone(),
        metrics: metrics.clone(),
        // The file on disk is what Prometheus started on: the first config it accepted.
        acceptance: Arc::new(Mutex::new(Acceptance::starting_from(
            std::fs::read(config.dir.join(&config.file_name)).ok(),
        ))),
    };
    metrics.init_fetches(syncer.source.kind());
    metrics.init_fetches("cloudmap");
    tracing::info!(source = ?config.source, dir = %config.dir.display(), "config-reloader starting");

    let Some(frequency) = config.frequency else {
        // A SIGTERM ends the pass even while an AWS call hangs: ECS stops an init container
        // that way, and a write in progress is synchronous, so it completes or never starts.
        return tokio::select! {
            done = once(&mut syncer, &config) => done,
            // Exit 0, as the contract asks of SIGTERM: ECS sends it when the task is stopping,
            // so nothing waits on this container's SUCCESS any more.
            _ = shutdown.wait() => {
                tracing::warn!("stopped by a signal before the pass completed");
                Ok(())
            }
        };
    };

    let server = match config.listen {
        Listen::On(addr) => {
            let listener = http::bind(addr).await?;
            let app = http::base_router(Arc::new(registry));
            Some(tokio::spawn(http::serve(listener, app, shutdown.clone())))
        }
        Listen::Off => None,
    };
    let reloader = config.reload_url.clone().map(|url| {
        let main = MainConfig {
            path: config.dir.join(&config.file_name),
            acceptance: syncer.acceptance.clone(),
        };
        reload::spawn(
            url,
            main,
            Backoff::default(),
            metrics.clone(),
            shutdown.clone(),
        )
    });
    loop {
        tokio::select! {
            report = syncer.pass() => {
                for error in &report.errors {
                    tracing::error!("{error}");
                }
                if report.reload_needed && let Some((trigger, _)) = &reloader {
                    trigger.request();
                }
            }
            // A write in progress is synchronous, so it completes or never starts.
            _ = shutdown.wait() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(frequency) => {}
            _ = shutdown.wait() => break,
        }
    }
    if let Some((_, handle)) = reloader {
        handle.await.context("reload task")?;
    }
    if let Some(server) = server {
        server.await??;
    }
    tracing::info!("config-reloader stopped");
    Ok(())
}

/// One pass, for ECS `dependsOn: SUCCESS`: exit 0 only when every source was read and every
/// file is valid. A reload is tried once when the config changed; Prometheus not being up yet
/// is normal for an init container, so that doesn't fail the pass.
async fn once(syncer: &mut Syncer, config: &Config) -> anyhow::Result<()> {
    let report = syncer.pass().await;
    if report.reload_needed
        && let Some(url) = &config.reload_url
        && let Err(error) = reload::post_reload(&reload::client(), url, &syncer.metrics).await
    {
        tracing::warn!(%url, %error, "Prometheus reload failed (one pass: not retried)");
    }
    if !report.is_success() {
        bail!("the pass failed:\n  {}", report.errors.join("\n  "));
    }
    tracing::info!("one pass done");
    Ok(())
}
