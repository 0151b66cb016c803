//! One scheduling decision (kube-scheduler's `schedulePod`): filter nodes until enough
//! feasible ones are found (`percentageOfNodesToScore`, adaptive by cluster size), starting
//! where the previous search stopped so every node gets its turn; score the feasible nodes
//! with the weighted, normalized score plugins; pick the best, ties broken at random.
//!
//! Reads the cache, writes nothing: assuming the pod on the chosen node is the caller's step.

use super::cache::Cache;
use super::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection, ScorePlugin, fit_error_message};
use super::plugins;

/// Below this many nodes every node is checked (`minFeasibleNodesToFind`).
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
const BASE_PERCENTAGE_OF_NODES_TO_SCORE: usize = 50;

/// Why no node was chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cluster has no nodes (`ErrNoNodesAvailable`).
    #[error("no nodes available to schedule pods")]
    NoNodes,
    /// Every node was refused (`FitError`); the message is kube-scheduler's.
    #[error("{0}")]
    Unfit(String),
}

/// The plugins and knobs of the scheduling profile.
pub struct Profile {
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scorers: Vec<Box<dyn ScorePlugin>>,
    /// `percentageOfNodesToScore`; `None` is the adaptive default.
    pub percentage_of_nodes_to_score: Option<usize>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            filters: plugins::default_filters(),
            scorers: plugins::default_scorers(),
            percentage_of_nodes_to_score: None,
        }
    }
}

/// How many feasible nodes are enough to stop filtering (`numFeasibleNodesToFind`): all of
/// them below 100 nodes, else 50% minus 1% per 125 nodes, at least 5% and at least 100.
pub fn num_feasible_nodes_to_find(num_all_nodes: usize, percentage: Option<usize>) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let percentage = match percentage.filter(|p| *p > 0) {
        Some(p) if p >= 100 => return num_all_nodes,
        Some(p) => p,
        None => BASE_PERCENTAGE_OF_NODES_TO_SCORE
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The decision maker; keeps the search's rotating start and the tie-break random state.
pub struct Algorithm {
    profile: Profile,
    next_start: usize,
    rng: u64,
}

impl Algorithm {
    pub fn new(profile: Profile) -> Algorithm {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Algorithm { profile, next_start: 0, rng: seed | 1 }
    }

    /// xorshift64*: enough randomness for tie-breaks without a dependency.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The node for `pod`, by name.
    pub fn schedule(&mut self, cache: &Cache, pod: &PodInfo) -> Result<String, ScheduleError> {
        let num_nodes = cache.num_nodes();
        if num_nodes == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let nodes = cache.nodes();
        let wanted = num_feasible_nodes_to_find(num_nodes, self.profile.percentage_of_nodes_to_score).max(1);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(nodes.len()));
        let mut rejections: Vec<Rejection> = Vec::new();
        let start = self.next_start % nodes.len();
        let mut visited = 0;
        for offset in 0..nodes.len() {
            let node = &nodes[(start + offset) % nodes.len()];
            visited = offset + 1;
            if !node.exists {
                continue;
            }
            match self.profile.filters.iter().try_for_each(|plugin| plugin.filter(pod, node)) {
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= wanted {
                        break;
                    }
                }
                Err(rejection) => rejections.push(rejection),
            }
        }
        self.next_start = (start + visited) % nodes.len();
        match feasible.len() {
            0 => Err(ScheduleError::Unfit(fit_error_message(num_nodes, &rejections))),
            1 => Ok(feasible[0].name.clone()),
            _ => Ok(self.pick(pod, &feasible)),
        }
    }

    /// Weighted sum of normalized scores; the best node, uniformly among equals.
    fn pick(&mut self, pod: &PodInfo, feasible: &[&NodeInfo]) -> String {
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = vec![0i64; feasible.len()];
        for plugin in &self.profile.scorers {
            for (score, node) in scores.iter_mut().zip(feasible) {
                *score = plugin.score(pod, node);
            }
            plugin.normalize(&mut scores);
            let weight = plugin.weight();
            for (total, score) in totals.iter_mut().zip(&scores) {
                *total += score * weight;
            }
        }
        let mut best = 0;
        let mut ties = 0u64;
        for (i, total) in totals.iter().enumerate() {
            if *total > totals[best] {
                best = i;
                ties = 1;
            } else if *total == totals[best] {
                // Reservoir sampling: the k-th equal node replaces the choice with odds 1/k.
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        feasible[best].name.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Node;

    use super::*;
    use crate::scheduler::plugins::testing::{pod, pod_spec};

    fn node(name: &str, cpu: &str, taint: Option<&str>) -> Node {
        let taints = taint.map(|key| vec![serde_json::json!({"key": key, "effect": "NoExecute"})]);
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
        }))
        .expect("node")
    }

    #[test]
    fn feasible_node_counts_follow_upstream() {
        assert_eq!(num_feasible_nodes_to_find(50, None), 50);
        assert_eq!(num_feasible_nodes_to_find(100, None), 100);
        assert_eq!(num_feasible_nodes_to_find(1000, None), 420);
        assert_eq!(num_feasible_nodes_to_find(5000, None), 500);
        assert_eq!(num_feasible_nodes_to_find(10_000, None), 500);
        assert_eq!(num_feasible_nodes_to_find(200, Some(10)), 100);
        assert_eq!(num_feasible_nodes_to_find(5000, Some(100)), 5000);
    }

    #[test]
    fn unfit_pods_get_the_kubernetes_message() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("a", "2", None));
        cache.upsert_node(&node("b", "4", Some("node.kubernetes.io/unreachable")));
        cache.upsert_node(&node("c", "4", Some("node.kubernetes.io/unreachable")));
        let mut algorithm = Algorithm::new(Profile::default());
        let big = pod(pod_spec("3", ""));
        assert_eq!(
            algorithm.schedule(&cache, &big),
            Err(ScheduleError::Unfit(
                "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
                 {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 1 No preemption victims \
                 found for incoming pod, 2 Preemption is not helpful for scheduling."
                    .into()
            ))
        );
        assert_eq!(algorithm.schedule(&cache, &pod(pod_spec("1", ""))), Ok("a".to_string()));
        assert_eq!(algorithm.schedule(&Cache::new(), &big), Err(ScheduleError::NoNodes));
    }

    #[test]
    fn assumed_pods_spread_a_burst_without_overcommitting() {
        let mut cache = Cache::new();
        for i in 0..3 {
            cache.upsert_node(&node(&format!("n{i}"), "1", None));
        }
        let mut algorithm = Algorithm::new(Profile::default());
        let mut placed: HashMap<String, usize> = HashMap::new();
        for i in 0..6 {
            let mut info = pod(pod_spec("500m", ""));
            info.name = format!("p{i}");
            let chosen = algorithm.schedule(&cache, &info).expect("fits");
            cache.assume(Arc::new(info), &chosen);
            *placed.entry(chosen).or_default() += 1;
        }
        assert_eq!(placed.len(), 3, "{placed:?}");
        assert!(placed.values().all(|count| *count == 2), "{placed:?}");
        let mut seventh = pod(pod_spec("500m", ""));
        seventh.name = "p6".into();
        assert!(
            matches!(algorithm.schedule(&cache, &seventh), Err(ScheduleError::Unfit(m)) if m.contains("3 Insufficient cpu"))
        );
    }

    #[test]
    fn large_clusters_stop_after_enough_feasible_nodes_and_rotate() {
        let mut cache = Cache::new();
        for i in 0..1000 {
            cache.upsert_node(&node(&format!("n{i:04}"), "32", None));
        }
        let mut algorithm = Algorithm::new(Profile::default());
        let small = pod(pod_spec("100m", ""));
        algorithm.schedule(&cache, &small).expect("fits");
        assert_eq!(algorithm.next_start, 420);
        algorithm.schedule(&cache, &small).expect("fits");
        assert_eq!(algorithm.next_start, 840);
    }
}
