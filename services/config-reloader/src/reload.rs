//! Prometheus reloads: a POST to `PROMETHEUS_RELOAD_URL` after the main config changed.
//!
//! A failed POST (non-2xx, refused connection, timeout) is retried with exponential backoff and
//! jitter until it succeeds, or until a newer config asks for a reload of its own (then the
//! retries start over for that one). Requests are never queued up: one reload covers every
//! change made before it.
//!
//! A reload that Prometheus answers with 500 is a refused config (Prometheus names the error in
//! the body). Then the last main config it accepted is put back and reloaded, the refused one is
//! kept beside it as `<CONFIG_FILE_NAME>.rejected`, and the sync leaves that source content
//! alone until it changes: a task restart never meets a config Prometheus can't start with.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::Empty;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use stack_common::atomic_file;
use stack_common::printable::printable;
use stack_common::shutdown::Shutdown;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::sync::sha256_hex;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusal's body is kept for the log and the pass errors.
const REFUSAL_TEXT_LIMIT: usize = 2048;

/// Source content Prometheus refused: its SHA-256 and Prometheus's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sha256: String,
    pub error: String,
}

/// What Prometheus made of the main config: the last file it accepted, and the content it
/// refused. Shared by the sync (which leaves refused content alone) and the reload task.
#[derive(Debug, Default)]
pub struct Acceptance {
    accepted: Option<Vec<u8>>,
    refused: Option<Refusal>,
}

impl Acceptance {
    /// Starts from the file on disk: the config-init wrote it and Prometheus started on it.
    pub fn starting_from(file: Option<Vec<u8>>) -> Self {
        Self {
            accepted: file,
            refused: None,
        }
    }

    /// The refusal of content with this SHA-256, if Prometheus refused it.
    pub fn refusal_of(&self, sha256: &str) -> Option<Refusal> {
        self.refused.clone().filter(|r| r.sha256 == sha256)
    }
}

pub type SharedAcceptance = Arc<Mutex<Acceptance>>;

/// The main config file the reloads are about.
#[derive(Debug, Clone)]
pub struct MainConfig {
    pub path: PathBuf,
    pub acceptance: SharedAcceptance,
}

impl MainConfig {
    fn state(&self) -> std::sync::MutexGuard<'_, Acceptance> {
        self.acceptance.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn accepted(&self, content: Option<Vec<u8>>) {
        let mut state = self.state();
        if content.is_some() {
            state.accepted = content;
        }
    }

    /// Prometheus refused `pending` with `error`: keeps it as `.rejected`, puts the last
    /// accepted file back, and returns true when there is something new to reload.
    fn roll_back(&self, pending: Option<Vec<u8>>, error: &str, metrics: &Metrics) -> bool {
        let mut state = self.state();
        let Some(pending) = pending else {
            tracing::error!(
                prometheus_error = error,
                "Prometheus refused its config, and the main config can't be read"
            );
            return false;
        };
        let Some(good) = state.accepted.clone().filter(|good| *good != pending) else {
            tracing::error!(
                prometheus_error = error,
                "Prometheus refused its config, but the main config is the one it last accepted (a rule or scrape config file may be at fault) or no accepted one is known: nothing to put back"
            );
            return false;
        };
        metrics.rollbacks.inc();
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let rejected = self.path.with_file_name(format!("{name}.rejected"));
        if let Err(write_error) = atomic_file::write_if_changed(&rejected, &pending) {
            tracing::warn!(%write_error, file = %rejected.display(), "could not keep the refused config");
        }
        state.refused = Some(Refusal {
            sha256: sha256_hex(&pending),
            error: error.to_string(),
        });
        match atomic_file::write_if_changed(&self.path, &good) {
            Ok(_) => {
                tracing::error!(
                    prometheus_error = error,
                    rejected = %rejected.display(),
                    "Prometheus refused the new config: the last accepted one is back and is reloaded; fix the source"
                );
                true
            }
            Err(write_error) => {
                tracing::error!(prometheus_error = error, %write_error, "Prometheus refused the new config, and the accepted one could not be put back");
                false
            }
        }
    }
}

/// Why a reload did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// Prometheus answered 500: it can't load the config, and says why.
    Refused(String),
    /// Anything else (refused connection, 503 while starting, no answer): retried.
    Failed(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Refused(error) => write!(f, "config refused: {error}"),
            ReloadError::Failed(error) => f.write_str(error),
        }
    }
}

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

/// One POST, counted as a success or a failure; Ok for a 2xx answer, otherwise what came back.
pub async fn post_reload(
    client: &ReloadClient,
    url: &Uri,
    metrics: &Metrics,
) -> Result<(), ReloadError> {
    let answer = post(client, url).await;
    metrics.reload(if answer.is_ok() { "success" } else { "failure" });
    answer
}

async fn post(client: &ReloadClient, url: &Uri) -> Result<(), ReloadError> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url.clone())
        .body(Empty::new())
        .map_err(|e| ReloadError::Failed(e.to_string()))?;
    let answered = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let response = client.request(request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok((status, String::new()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(REFUSAL_TEXT_LIMIT)]);
        Ok::<_, hyper_util::client::legacy::Error>((status, printable(text.trim()).into_owned()))
    })
    .await;
    match answered {
        Err(_) => Err(ReloadError::Failed(format!(
            "no answer within {}s",
            REQUEST_TIMEOUT.as_secs()
        ))),
        Ok(Err(error)) => Err(ReloadError::Failed(format!("{error:?}"))),
        Ok(Ok((status, _))) if status.is_success() => Ok(()),
        Ok(Ok((status, text))) if status.as_u16() == 500 => Err(ReloadError::Refused(text)),
        Ok(Ok((status, text))) => Err(ReloadError::Failed(format!("answered {status}: {text}"))),
    }
}

/// Starts the reload task; returns the trigger and the task's handle.
pub fn spawn(
    url: Uri,
    main: MainConfig,
    backoff: Backoff,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> (ReloadTrigger, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(0u64);
    let handle = tokio::spawn(run(url, main, backoff, receiver, metrics, shutdown));
    (ReloadTrigger { generation: sender }, handle)
}

async fn run(
    url: Uri,
    main: MainConfig,
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
            // What this reload covers: the file as it is now.
            let pending = std::fs::read(&main.path).ok();
            // Raced against shutdown: a Prometheus that takes the connection and never answers
            // must not hold SIGTERM up for the request's timeout.
            let outcome = tokio::select! {
                outcome = post_reload(&client, &url, &metrics) => outcome,
                _ = shutdown.wait() => return,
            };
            match outcome {
                Ok(()) => {
                    main.accepted(pending);
                    tracing::info!(%url, attempt, "Prometheus reloaded");
                    break;
                }
                Err(ReloadError::Refused(error)) => {
                    if main.roll_back(pending, &error, &metrics) {
                        // Reload the config put back, at once.
                        attempt = 0;
                        continue;
                    }
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

    #[tokio::test]
    async fn shutdown_ends_a_reload_that_prometheus_never_answers() {
        // Takes the connection and the request, and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url: Uri = format!(
            "http://{}/-/reload",
            listener.local_addr().expect("address")
        )
        .parse()
        .expect("url");
        let (connected, mut accepted) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            connected.send(()).await.expect("the test waits");
            std::future::pending::<()>().await;
            drop(socket);
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let main = MainConfig {
            path: dir.path().join("prometheus.yml"),
            acceptance: Arc::default(),
        };
        let shutdown = Shutdown::new();
        let (trigger, handle) = spawn(
            url,
            main,
            Backoff::default(),
            Arc::new(Metrics::default()),
            shutdown.clone(),
        );
        trigger.request();
        accepted.recv().await.expect("the reload's connection");
        shutdown.trigger();
        // Well inside REQUEST_TIMEOUT (10 s), and the 5 s the contract allows for an exit.
        tokio::time::timeout(Duration::from_secs(1), handle)
            .await
            .expect("the reload task ends at once on shutdown, with its POST unanswered")
            .expect("the reload task doesn't panic");
    }

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
