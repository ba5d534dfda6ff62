//! prometheus-ecs-sd's and prometheus-ecs-discoverer's convention: `PROMETHEUS` or
//! `PROMETHEUS_TARGET=true` in the environment (or docker labels), with `PROMETHEUS_PORT`,
//! `PROMETHEUS_CONTAINER_PORT`, `PROMETHEUS_ENDPOINT` and `PROMETHEUS_LABEL_<name>`.

use std::collections::BTreeMap;

use stack_common::labels::is_valid_label_name;

use crate::model::ContainerDefinition;

use super::endpoint::{
    Endpoint, Interval, MAX_ENDPOINTS_PER_CONTAINER, binding_for, binding_host_port, check_path,
    parse_port,
};
use super::skip::SkipReason;
use super::{Convention, Resolver, TaskContext};

/// One item of `PROMETHEUS_ENDPOINT`: its interval (if it names one this crate knows) and path.
pub(super) type EndpointItem = Result<(Option<Interval>, String), SkipReason>;

/// `PROMETHEUS_ENDPOINT`, prometheus-ecs-discoverer's list: `/path` or `interval:/path`, comma
/// separated. An unknown interval is reported and its path kept (as that tool does); a bad item
/// is reported alone; after [`MAX_ENDPOINTS_PER_CONTAINER`] items the rest is one
/// `TooManyEndpoints`.
pub(super) fn parse_endpoint_list(raw: &str) -> Vec<EndpointItem> {
    let mut items = Vec::new();
    for item in raw
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        if items.len() >= MAX_ENDPOINTS_PER_CONTAINER {
            items.push(Err(SkipReason::TooManyEndpoints {
                limit: MAX_ENDPOINTS_PER_CONTAINER,
            }));
            break;
        }
        let (interval, path) = if item.starts_with('/') {
            (None, item)
        } else {
            let Some((raw_interval, path)) = item.split_once(':') else {
                items.push(Err(SkipReason::InvalidEndpoint {
                    value: item.to_string(),
                }));
                continue;
            };
            let interval = Interval::parse(raw_interval.trim());
            if interval.is_none() {
                // Counted and shown by explain, and the path is still a target.
                items.push(Err(SkipReason::UnknownInterval {
                    value: raw_interval.trim().to_string(),
                }));
            }
            (interval, path.trim())
        };
        let path = if path.starts_with('/') {
            check_path("PROMETHEUS_ENDPOINT", path)
        } else {
            Err(SkipReason::InvalidEndpoint {
                value: item.to_string(),
            })
        };
        items.push(path.map(|path| (interval, path)));
    }
    items
}

impl<'a> Resolver<'a> {
    pub(super) fn environment_endpoints(
        &mut self,
        ctx: &TaskContext<'_>,
        def: &'a ContainerDefinition,
    ) -> Vec<Result<Endpoint<'a>, SkipReason>> {
        let port = if ctx.bridge {
            if let Some(raw) = def.key("PROMETHEUS_PORT") {
                parse_port("PROMETHEUS_PORT", raw)
            } else if let Some(raw) = def.key("PROMETHEUS_CONTAINER_PORT") {
                parse_port("PROMETHEUS_CONTAINER_PORT", raw)
                    .and_then(|p| binding_for(ctx.bindings_of(&def.name), p))
            } else {
                ctx.bindings_of(&def.name)
                    .first()
                    .ok_or(SkipReason::NoNetworkBinding)
                    .and_then(binding_host_port)
            }
        } else if let Some(raw) = def.key("PROMETHEUS_PORT") {
            parse_port("PROMETHEUS_PORT", raw)
        } else {
            match def.port_mappings.first().and_then(|m| m.container_port) {
                Some(port) => parse_port("portMappings.containerPort", &port.to_string()),
                None => Ok(80),
            }
        };
        let port = match port {
            Ok(port) => port,
            Err(reason) => return vec![Err(reason)],
        };
        // A label with an invalid name is dropped, the targets stay; explain and the skip
        // count show it, with its key and task family.
        let (labels, dropped) = match self.custom_labels(ctx, def) {
            Ok(found) => found,
            Err(reason) => return vec![Err(reason)],
        };
        let dropped = dropped.into_iter().map(Err);
        let raw_endpoints = def
            .key("PROMETHEUS_ENDPOINT")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(raw_endpoints) = raw_endpoints else {
            return dropped
                .chain(std::iter::once(Ok(Endpoint {
                    convention: Convention::Environment,
                    container: &def.name,
                    port,
                    path: self.options.fallback_metrics_path.clone(),
                    interval: None,
                    scheme: None,
                    job: None,
                    host: None,
                    labels,
                })))
                .collect();
        };
        let mut endpoints: Vec<_> = dropped.collect();
        for item in parse_endpoint_list(raw_endpoints) {
            endpoints.push(item.map(|(interval, path)| Endpoint {
                convention: Convention::Environment,
                container: &def.name,
                port,
                path,
                interval,
                scheme: None,
                job: None,
                host: None,
                labels: labels.clone(),
            }));
        }
        endpoints
    }

    /// The `PROMETHEUS_LABEL_<name>` labels. A name starting with `__` would steer Prometheus
    /// (`__scheme__`, `__param_*`, `__scrape_interval__`, a faked `__meta_*`): the container is
    /// refused rather than scraped differently from what its owner sees.
    fn custom_labels(
        &mut self,
        ctx: &TaskContext<'_>,
        def: &ContainerDefinition,
    ) -> Result<(BTreeMap<String, String>, Vec<SkipReason>), SkipReason> {
        let mut labels = BTreeMap::new();
        let mut dropped = Vec::new();
        let keys = def.environment.keys().chain(def.docker_labels.keys());
        for key in keys {
            let Some(name) = key.strip_prefix("PROMETHEUS_LABEL_") else {
                continue;
            };
            if name.starts_with("__") {
                return Err(SkipReason::ReservedLabel {
                    key: key.clone(),
                    family: ctx.definition.family.clone(),
                });
            }
            if is_valid_label_name(name) {
                if let Some(value) = def.key(key) {
                    labels.insert(name.to_string(), value.to_string());
                }
            } else {
                dropped.push(SkipReason::InvalidLabelName {
                    key: key.clone(),
                    family: ctx.definition.family.clone(),
                });
            }
        }
        Ok((labels, dropped))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const INTERVALS: [&str; 4] = ["15s", "30s", "1m", "5m"];

    /// A valid item and what it must parse to.
    fn valid_item() -> impl Strategy<Value = (String, (Option<Interval>, String))> {
        (
            proptest::option::of(proptest::sample::select(INTERVALS.to_vec())),
            "(/[a-z0-9_.-]{0,8}){1,3}",
        )
            .prop_map(|(interval, path)| {
                let item = match interval {
                    Some(i) => format!(" {i}:{path} "),
                    None => path.clone(),
                };
                (item, (interval.and_then(Interval::parse), path))
            })
    }

    proptest! {
        /// Whatever the value: no panic, at most the cap of targets, at most one entry beyond
        /// it, and every path kept is absolute, without a query or fragment.
        #[test]
        fn any_value_gives_bounded_clean_paths(raw in "[ -~]{0,400}") {
            let items = parse_endpoint_list(&raw);
            let kept: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
            prop_assert!(kept.len() <= MAX_ENDPOINTS_PER_CONTAINER);
            prop_assert!(items.len() <= MAX_ENDPOINTS_PER_CONTAINER + 1);
            for (_, path) in kept {
                prop_assert!(path.starts_with('/'), "{path}");
                prop_assert!(!path.contains(['?', '#', ',']), "{path}");
            }
        }

        /// A list of valid items parses to exactly those items, in order.
        #[test]
        fn valid_items_round_trip(items in proptest::collection::vec(valid_item(), 1..=MAX_ENDPOINTS_PER_CONTAINER)) {
            let raw = items.iter().map(|(item, _)| item.as_str()).collect::<Vec<_>>().join(",");
            let parsed: Vec<_> = parse_endpoint_list(&raw).into_iter().collect::<Result<_, _>>().expect("all valid");
            let expected: Vec<_> = items.into_iter().map(|(_, parsed)| parsed).collect();
            prop_assert_eq!(parsed, expected);
        }

        /// Past the cap, the first items are kept and the rest is one refusal.
        #[test]
        fn past_the_cap_the_rest_is_one_refusal(extra in 1usize..64) {
            let raw = (0..MAX_ENDPOINTS_PER_CONTAINER + extra).map(|i| format!("/m{i}")).collect::<Vec<_>>().join(",");
            let items = parse_endpoint_list(&raw);
            prop_assert_eq!(items.len(), MAX_ENDPOINTS_PER_CONTAINER + 1);
            prop_assert!(items[..MAX_ENDPOINTS_PER_CONTAINER].iter().all(Result::is_ok));
            let refused = matches!(items[MAX_ENDPOINTS_PER_CONTAINER], Err(SkipReason::TooManyEndpoints { .. }));
            prop_assert!(refused);
        }

        /// An unknown interval is reported, and its path is still a target.
        #[test]
        fn an_unknown_interval_keeps_its_path(interval in "[0-9]{1,3}[hd]", path in "/[a-z]{1,8}") {
            let items = parse_endpoint_list(&format!("{interval}:{path}"));
            prop_assert_eq!(items.len(), 2);
            let is_unknown_interval = matches!(&items[0], Err(SkipReason::UnknownInterval { value }) if *value == interval);
            prop_assert!(is_unknown_interval, "{:?}", items[0]);
            prop_assert_eq!(items[1].as_ref().ok(), Some(&(None, path)));
        }
    }
}
