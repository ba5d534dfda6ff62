//! Prometheus reloads: a POST to `PROMETHEUS_RELOAD_URL` after the main config changed.
//!
//! A failed POST (non-2xx, refused connection, timeout) is retried with exponential backoff and
//! jitter until it succeeds, or until a newer config asks for a reload of its own (then the
//! retries start over for that one). Requests are never queued up: one reload covers every
//! change made before it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use stack_common::shutdown::Shutdown;
use tokio::sync::watch;

use crate::metrics::Metrics;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Backoff between attempts: doubling from `initial` up to `max`, with full jitter on top half.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The pause after `attempt` failures (1-based): between half and all of the capped
    /// exponential value.
    pub fn pause(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        let capped = self.initial.saturating_mul(factor).min(self.max);
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// Asks the reload task for a reload; cheap, never blocks.
#[derive(Debug, Clone)]
pub struct ReloadTrigger {
    generation: watch::Sender<u64>,
}

impl ReloadTrigger {
    pub fn request(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

/// The HTTP client of the reload POSTs.
pub type ReloadClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> ReloadClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One POST, counted as a success or a failure; Ok for a 2xx answer, otherwise a message
/// saying what came back.
pub async fn post_reload(
    client: &ReloadClient,
    url: &Uri,
    metrics: &Metrics,
) -> Result<(), String> {
    let answer = post(client, url).await;
    metrics.reload(if answer.is_ok() { "success" } else { "failure" });
    answer
}

async fn post(client: &ReloadClient, url: &Uri) -> Result<(), String> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url.clone())
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(REQUEST_TIMEOUT, client.request(request)).await {
        Err(_) => Err(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(format!("{error:?}")),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("answered {}", response.status())),
    }
}

/// Starts the reload task; returns the trigger and the task's handle.
pub fn spawn(
    url: Uri,
    backoff: Backoff,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> (ReloadTrigger, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(0u64);
    let handle = tokio::spawn(run(url, backoff, receiver, metrics, shutdown));
    (ReloadTrigger { generation: sender }, handle)
}

async fn run(
    url: Uri,
    backoff: Backoff,
    mut requests: watch::Receiver<u64>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let client = client();
    loop {
        tokio::select! {
            changed = requests.changed() => if changed.is_err() { return },
            _ = shutdown.wait() => return,
        }
        let mut attempt = 0;
        loop {
            requests.mark_unchanged();
            attempt += 1;
            match post_reload(&client, &url, &metrics).await {
                Ok(()) => {
                    tracing::info!(%url, attempt, "Prometheus reloaded");
                    break;
                }
                Err(error) => {
                    let pause = backoff.pause(attempt);
                    tracing::warn!(%url, attempt, %error, retry_in_ms = pause.as_millis() as u64, "Prometheus reload failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        // A newer config: start over for it, at once.
                        changed = requests.changed() => {
                            if changed.is_err() { return }
                            attempt = 0;
                        }
                        _ = shutdown.wait() => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let pause = backoff.pause(attempt).as_millis() as u64;
            assert!(
                pause >= full / 2 && pause <= full,
                "attempt {attempt}: {pause}ms not in [{}, {full}]",
                full / 2
            );
        }
    }
}
