//! The ECS source: its parts are the clusters of `--clusters` (or, without it, every cluster
//! ListClusters finds), each refreshed through the [`Edge`] and resolved purely.

use std::collections::HashSet;

use crate::edge::{Edge, Refresh};
use crate::resolve::{Options, resolve_cluster};
use crate::source::{Part, PartRefresh, Refreshed, Refreshing, Source, SourceKind};

#[derive(Debug)]
pub struct EcsSource {
    edge: Edge,
    /// As configured; empty means "every cluster of the account and region".
    clusters: Vec<String>,
    options: Options,
    /// Clusters this source has given a resolution for, so an unchanged cluster that never got
    /// one (its first resolution was cancelled) is resolved rather than reported unchanged.
    resolved: HashSet<String>,
}

impl EcsSource {
    pub fn new(edge: Edge, clusters: Vec<String>, options: Options) -> Self {
        Self {
            edge,
            clusters,
            options,
            resolved: HashSet::new(),
        }
    }

    async fn refresh_clusters(&mut self) -> Refreshed {
        let clusters = if self.clusters.is_empty() {
            self.edge.list_clusters().await?
        } else {
            self.clusters.clone()
        };
        let keep: HashSet<String> = clusters.iter().cloned().collect();
        self.edge.retain_clusters(&keep);
        self.resolved.retain(|c| keep.contains(c));
        self.edge.prefetch_clusters(&clusters).await;

        let mut parts = Vec::with_capacity(clusters.len());
        let mut drafts = Vec::new();
        for cluster in clusters {
            let draft = match self.edge.refresh(&cluster).await {
                Ok(Refresh::Unchanged) if self.resolved.contains(&cluster) => {
                    parts.push(Part::new(cluster, PartRefresh::Unchanged));
                    continue;
                }
                Ok(Refresh::Unchanged) => self.edge.draft(&cluster).await,
                Ok(Refresh::Changed(draft)) => Ok(*draft),
                Err(error) => Err(error),
            };
            match draft {
                Ok(draft) => drafts.push(draft),
                Err(error) => parts.push(Part::new(cluster, PartRefresh::Failed(error.into()))),
            }
        }
        for (cluster, finished) in self.edge.finish(drafts).await {
            let refresh = match finished {
                Ok(snapshot) => {
                    self.resolved.insert(cluster.clone());
                    PartRefresh::Changed(resolve_cluster(&snapshot, &self.options))
                }
                Err(error) => PartRefresh::Failed(error.into()),
            };
            parts.push(Part::new(cluster, refresh));
        }
        Ok(parts)
    }
}

impl Source for EcsSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Ecs
    }

    fn refresh(&mut self) -> Refreshing<'_> {
        Box::pin(self.refresh_clusters())
    }
}
