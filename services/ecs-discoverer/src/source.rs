//! A discovery source, in the shape of Prometheus's `discovery/refresh`: one refresh function
//! per source, and one generic loop ([`crate::refresher`]) that keeps the last good result of
//! each part, merges them, times the cycle and counts its outcome.
//!
//! A source has parts that fail on their own: the ECS source's parts are its clusters, the
//! Cloud Map source has one part (its namespaces are read as one snapshot).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use stack_common::cloudmap::CloudMapError;

use crate::edge::EdgeError;
use crate::resolve::Resolution;

pub mod cloud_map;
pub mod ecs;

pub use cloud_map::CloudMapSource;
pub use ecs::EcsSource;

/// Which source; it decides which series a part's failure counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Ecs,
    CloudMap,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Ecs => "ecs",
            SourceKind::CloudMap => "cloudmap",
        }
    }
}

/// Why a source, or one of its parts, did not refresh.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Ecs(#[from] EdgeError),
    #[error(transparent)]
    CloudMap(#[from] CloudMapError),
}

/// What one refresh found for one part.
#[derive(Debug)]
pub enum PartRefresh {
    /// Nothing changed since the part's last resolution: it still holds.
    Unchanged,
    /// The part's new resolution.
    Changed(Resolution),
    /// The part keeps its last good resolution.
    Failed(SourceError),
}

/// One part's refresh, keyed as the source names the part (a cluster as configured or listed).
#[derive(Debug)]
pub struct Part {
    pub key: String,
    pub refresh: PartRefresh,
}

impl Part {
    pub fn new(key: impl Into<String>, refresh: PartRefresh) -> Self {
        Self {
            key: key.into(),
            refresh,
        }
    }
}

/// The parts a refresh found: those listed are the source's parts from now on (a part no
/// longer listed is gone). `Err` when the source could not tell its parts; every part then
/// keeps its last good resolution.
pub type Refreshed = Result<Vec<Part>, SourceError>;

/// Boxed, so sources of different types share one list; `Send` is not needed (one runtime
/// thread runs the cycles).
pub type Refreshing<'a> = Pin<Box<dyn Future<Output = Refreshed> + 'a>>;

/// A source of targets.
pub trait Source: fmt::Debug {
    fn kind(&self) -> SourceKind;

    /// One refresh of every part. Cancel-safe in the sense the loop needs: dropped mid-way (on
    /// shutdown), it leaves no half-updated state behind that a later refresh would trust.
    fn refresh(&mut self) -> Refreshing<'_>;
}
