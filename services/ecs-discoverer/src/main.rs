//! ecs-discoverer binary: parses flags into a validated config and runs the discoverer.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use ecs_discoverer::config::{Cli, Config};
use ecs_discoverer::metrics::Metrics;
use prometheus_client::registry::Registry;
use stack_common::listen::Listen;
use stack_common::shutdown::Shutdown;
use stack_common::{http, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::try_from(Cli::parse())?;
    telemetry::init(config.log_format, "info");
    let shutdown = Shutdown::on_signals().context("cannot install signal handlers")?;

    let mut registry = Registry::default();
    let _metrics = Metrics::register(&mut registry);
    let app = http::base_router(Arc::new(registry));

    tracing::info!(clusters = ?config.clusters, interval = ?config.interval, "ecs-discoverer starting");
    match config.listen {
        Listen::On(addr) => {
            let listener = http::bind(addr).await?;
            http::serve(listener, app, shutdown).await?;
        }
        Listen::Off => shutdown.wait().await,
    }
    tracing::info!("ecs-discoverer stopped");
    Ok(())
}
