//! ecs-discoverer binary: flags into a validated config, then `--once`, `explain`, or the
//! long-running discoverer with its HTTP server.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use ecs_discoverer::app::app;
use ecs_discoverer::config::{Cli, Command, Config};
use ecs_discoverer::edge::{self, Edge};
use ecs_discoverer::explain;
use ecs_discoverer::metrics::Metrics;
use ecs_discoverer::output::{FileSdWriter, SharedState};
use ecs_discoverer::ratelimit::RateLimiter;
use ecs_discoverer::refresher::{CycleResult, Refresher};
use ecs_discoverer::resolve::{Options, Origin};
use ecs_discoverer::task_events::listener::Listener;
use ecs_discoverer::task_events::queue::Queue;
use prometheus_client::registry::Registry;
use stack_common::aws::{self, AssumeRole};
use stack_common::listen::Listen;
use stack_common::shutdown::Shutdown;
use stack_common::{http, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // First, so a SIGTERM during AWS config loading or a hung first call is still honoured.
    let shutdown = Shutdown::on_signals().context("cannot install signal handlers")?;
    let cli = Cli::parse();
    let command = cli
        .command
        .as_ref()
        .map(|Command::Explain { all, json }| (*all, *json));
    let config = Config::try_from(cli)?;
    telemetry::init(
        config.log_format,
        if command.is_some() { "warn" } else { "info" },
    );

    if let Some(dir) = &config.output_dir {
        if !dir.is_dir() {
            bail!(
                "--output-dir {} is not a directory: create it, or point ECS_SD_OUTPUT_DIR at the shared volume",
                dir.display()
            );
        }
        FileSdWriter {
            dir: dir.clone(),
            format: config.output_format,
        }
        .create_missing()?;
    }

    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    metrics.cycle_interval.set(config.interval.as_secs_f64());
    let assume_role = config.role_arn.clone().map(|role_arn| AssumeRole {
        role_arn,
        external_id: config.external_id.clone(),
        session_name: "ecs-discoverer".to_string(),
    });
    let timeouts = aws::Timeouts {
        operation: config.api_timeout,
    };
    let sdk_config = tokio::select! {
        loaded = aws::load(assume_role.as_ref(), timeouts) => loaded,
        _ = shutdown.wait() => return Ok(()),
    };
    aws::require_region(&sdk_config)?;
    let (ecs, ec2) = edge::clients(&sdk_config, &metrics);
    let limiter = Arc::new(RateLimiter::aws());
    let edge = Edge::new(
        ecs,
        ec2,
        Arc::clone(&limiter),
        metrics.clone(),
        config.service_cache_ttl,
    );
    let state = Arc::new(SharedState::default());
    let listener = config.events_queue_url.clone().map(|url| Listener {
        queue: Queue::new(edge::sqs_client(&sdk_config, &metrics), url),
        edge: edge.clone(),
        clusters: config.clusters.clone(),
        options: Options::from(&config),
        metrics: metrics.clone(),
    });
    let cloudmap = edge::cloudmap_client(&sdk_config, &metrics, limiter);
    let mut refresher =
        Refresher::from_config(edge, Some(cloudmap), &config, metrics, state.clone());

    if let Some((all, json)) = command {
        let Some(report) = refresher.cycle_unless_shutdown(false, &shutdown).await else {
            return Ok(());
        };
        for error in &report.errors {
            eprintln!("error: {error}");
        }
        let out = if json {
            serde_json::to_string_pretty(&explain::views(&report.skipped))?
        } else {
            explain::text(&report.skipped, all.then_some(report.targets.as_slice()))
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{out}");
        }
        return if report.result == CycleResult::Failure {
            bail!("the discovery cycle failed")
        } else {
            Ok(())
        };
    }

    if config.once {
        let Some(report) = refresher.cycle_unless_shutdown(true, &shutdown).await else {
            return Ok(());
        };
        if report.result != CycleResult::Success {
            bail!("discovery failed: {}", report.errors.join("; "));
        }
        tracing::info!(
            targets = report.targets.len(),
            cloudmap_targets = report
                .targets
                .iter()
                .filter(|t| t.origin == Origin::CloudMap)
                .count(),
            "one cycle done"
        );
        return Ok(());
    }

    tracing::info!(clusters = ?config.clusters, interval = ?config.interval, "ecs-discoverer starting");
    let server = match config.listen {
        Listen::On(addr) => {
            let listener = http::bind(addr).await?;
            Some(tokio::spawn(http::serve(
                listener,
                app(state, Arc::new(registry)),
                shutdown.clone(),
            )))
        }
        Listen::Off => None,
    };
    match listener {
        Some(listener) => {
            tracing::info!(queue = %config.events_queue_url.as_deref().unwrap_or_default(), "applying ECS task state changes from the events queue; the cycle reconciles");
            let (batches, applied) = tokio::sync::mpsc::channel(16);
            tokio::join!(
                refresher.run(config.interval, shutdown.clone(), Some(applied)),
                listener.run(batches, shutdown),
            );
        }
        None => refresher.run(config.interval, shutdown, None).await,
    }
    if let Some(server) = server {
        server.await??;
    }
    tracing::info!("ecs-discoverer stopped");
    Ok(())
}
