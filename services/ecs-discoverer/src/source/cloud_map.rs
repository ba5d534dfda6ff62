//! The Cloud Map source: the instances of `--cloudmap-namespaces`, one part, as targets of the
//! same type as ECS's (one per instance, in no per-interval file).

use std::sync::Arc;

use stack_common::cloudmap::{self, CloudMap};

use crate::events::{CloudMapInstanceSkipped, InternalEvent};
use crate::label_set::{Interner, LabelSet};
use crate::metrics::Metrics;
use crate::resolve::{Origin, Resolution, Target};
use crate::source::{Part, PartRefresh, Refreshed, Refreshing, Source, SourceKind};

/// The one part's key.
pub const PART: &str = "cloudmap";

#[derive(Debug)]
pub struct CloudMapSource {
    client: CloudMap,
    namespaces: Vec<String>,
    metrics: Arc<Metrics>,
}

impl CloudMapSource {
    pub fn new(client: CloudMap, namespaces: Vec<String>, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            namespaces,
            metrics,
        }
    }

    async fn refresh_namespaces(&mut self) -> Refreshed {
        let refresh = match self.client.snapshot(&self.namespaces).await {
            Ok(snapshot) => {
                let found = cloudmap::groups(&snapshot);
                for reason in &found.skipped {
                    CloudMapInstanceSkipped { reason }.emit(&self.metrics);
                }
                PartRefresh::Changed(resolution(found.groups))
            }
            Err(error) => PartRefresh::Failed(error.into()),
        };
        Ok(vec![Part::new(PART, refresh)])
    }
}

/// Each group (one instance each) as a target.
fn resolution(groups: Vec<stack_common::target_group::TargetGroup>) -> Resolution {
    let mut interner = Interner::default();
    let targets = groups
        .into_iter()
        .flat_map(|group| {
            let labels = LabelSet::from_pairs(
                group
                    .labels
                    .iter()
                    .map(|(name, value)| (interner.intern(name), interner.intern(value)))
                    .collect(),
            );
            group
                .targets
                .into_iter()
                .map(move |address| {
                    Arc::new(Target {
                        origin: Origin::CloudMap,
                        interval: None,
                        address: address.into(),
                        labels: labels.clone(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Resolution {
        targets,
        ..Resolution::default()
    }
}

impl Source for CloudMapSource {
    fn kind(&self) -> SourceKind {
        SourceKind::CloudMap
    }

    fn refresh(&mut self) -> Refreshing<'_> {
        Box::pin(self.refresh_namespaces())
    }
}
