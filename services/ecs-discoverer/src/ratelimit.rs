//! Client-side token buckets, one per AWS throttling bucket, so a cold cycle on a large estate
//! stays under the sustained rate AWS allows instead of leaning on throttling and retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use stack_common::cloudmap::{CloudMapCall, Pacer};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The AWS throttling buckets the discoverer draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// ECS cluster read: ListClusters, DescribeClusters.
    ClusterRead,
    /// ECS cluster resource read: ListTasks, DescribeTasks, DescribeContainerInstances.
    ClusterResourceRead,
    /// ECS task definition read: DescribeTaskDefinition.
    TaskDefinitionRead,
    /// ECS service read: DescribeServices.
    ServiceRead,
    /// EC2 non-mutating actions: DescribeInstances.
    Ec2Describe,
    /// Cloud Map DiscoverInstances.
    CloudMapDiscover,
    /// Cloud Map ListNamespaces, ListServices, ListTagsForResource.
    CloudMapControl,
}

impl Bucket {
    pub const ALL: [Bucket; 7] = [
        Bucket::ClusterRead,
        Bucket::ClusterResourceRead,
        Bucket::TaskDefinitionRead,
        Bucket::ServiceRead,
        Bucket::Ec2Describe,
        Bucket::CloudMapDiscover,
        Bucket::CloudMapControl,
    ];

    /// (burst, sustained per second). ECS documents a sustained 20/s for these read buckets;
    /// the burst is the smallest ECS documents for them, so we never rely on a larger one.
    /// EC2's non-mutating bucket refills at 20/s with a burst of 100. Cloud Map documents
    /// DiscoverInstances at 1,000/s with a burst of 2,000, and no figure for its other calls:
    /// for those we take ECS's read figures, which a discovery cycle never comes near.
    pub fn limits(self) -> (f64, f64) {
        match self {
            Bucket::Ec2Describe => (100.0, 20.0),
            Bucket::CloudMapDiscover => (2000.0, 1000.0),
            _ => (50.0, 20.0),
        }
    }
}

#[derive(Debug)]
struct State {
    tokens: f64,
    updated: Instant,
}

/// Token buckets; [`RateLimiter::acquire`] waits until the bucket has a token.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<Bucket, (f64, f64, Mutex<State>)>,
}

impl RateLimiter {
    /// Buckets with AWS's limits.
    pub fn aws() -> Self {
        Self::with_limits(|bucket| bucket.limits())
    }

    pub fn with_limits(limits: impl Fn(Bucket) -> (f64, f64)) -> Self {
        let now = Instant::now();
        let buckets = Bucket::ALL
            .into_iter()
            .map(|bucket| {
                let (burst, rate) = limits(bucket);
                (
                    bucket,
                    (
                        burst,
                        rate,
                        Mutex::new(State {
                            tokens: burst,
                            updated: now,
                        }),
                    ),
                )
            })
            .collect();
        Self { buckets }
    }

    /// Takes one token from `bucket`, waiting for the refill when it is empty.
    pub async fn acquire(&self, bucket: Bucket) {
        let Some((burst, rate, state)) = self.buckets.get(&bucket) else {
            return;
        };
        let mut state = state.lock().await;
        loop {
            let now = Instant::now();
            let refill = now.duration_since(state.updated).as_secs_f64() * rate;
            state.tokens = (state.tokens + refill).min(*burst);
            state.updated = now;
            if state.tokens >= 1.0 {
                state.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - state.tokens) / rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// Cloud Map calls paced by `limiter`, in the bucket AWS throttles each one in.
pub fn cloudmap_pacer(limiter: Arc<RateLimiter>) -> Pacer {
    Arc::new(move |call| {
        let limiter = Arc::clone(&limiter);
        Box::pin(async move {
            let bucket = match call {
                CloudMapCall::DiscoverInstances => Bucket::CloudMapDiscover,
                CloudMapCall::ControlPlane => Bucket::CloudMapControl,
            };
            limiter.acquire(bucket).await;
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sustained_rate_after_the_burst() {
        let limiter = RateLimiter::with_limits(|_| (5.0, 10.0));
        let start = Instant::now();
        for _ in 0..25 {
            limiter.acquire(Bucket::ClusterResourceRead).await;
        }
        // 5 from the burst, then 20 at 10/s: two seconds.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.9..2.2).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn cloud_map_calls_wait_in_their_own_buckets() {
        let limiter = Arc::new(RateLimiter::with_limits(|_| (1.0, 1.0)));
        let pacer = cloudmap_pacer(Arc::clone(&limiter));
        let start = Instant::now();
        pacer(CloudMapCall::ControlPlane).await;
        pacer(CloudMapCall::DiscoverInstances).await;
        limiter.acquire(Bucket::ClusterRead).await;
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "three buckets, one token each"
        );
        pacer(CloudMapCall::ControlPlane).await;
        let waited = start.elapsed().as_secs_f64();
        assert!(
            (0.9..1.2).contains(&waited),
            "the second control-plane call waits for the refill: {waited}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_independent() {
        let limiter = RateLimiter::with_limits(|_| (1.0, 1.0));
        let start = Instant::now();
        limiter.acquire(Bucket::ClusterRead).await;
        limiter.acquire(Bucket::ServiceRead).await;
        assert!(start.elapsed() < Duration::from_millis(10));
    }
}
