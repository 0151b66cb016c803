//! NodeAffinity: `spec.nodeSelector` and `requiredDuringSchedulingIgnoredDuringExecution`
//! must match the node's labels (filter); matching `preferredDuringScheduling...` terms add
//! their weights (score, normalized, plugin weight 2).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use crate::scheduler::framework::{
    Code, FilterPlugin, FilterResult, NodeInfo, PodInfo, Rejection, ScorePlugin, default_normalize,
};

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

/// One requirement against labels (or, for `matchFields`, the node's fields).
fn requirement_matches(requirement: &NodeSelectorRequirement, values_of: &dyn Fn(&str) -> Option<String>) -> bool {
    let actual = values_of(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or(&[]);
    match requirement.operator.as_str() {
        "In" => actual.is_some_and(|v| values.contains(&v)),
        "NotIn" => !actual.is_some_and(|v| values.contains(&v)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" | "Lt" => {
            // Exactly one integer value; anything else never matches (validation refuses it).
            let (Some(actual), [wanted]) = (actual.and_then(|v| v.parse::<i64>().ok()), values) else {
                return false;
            };
            let Ok(wanted) = wanted.parse::<i64>() else { return false };
            if requirement.operator == "Gt" { actual > wanted } else { actual < wanted }
        }
        _ => false,
    }
}

/// A term matches when all its expressions and fields match; an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let label = |key: &str| node.labels.get(key).cloned();
    let field = |key: &str| (key == "metadata.name").then(|| node.name.clone());
    expressions.iter().all(|r| requirement_matches(r, &label)) && fields.iter().all(|r| requirement_matches(r, &field))
}

fn selector_matches(selector: &BTreeMap<String, String>, node: &NodeInfo) -> bool {
    selector.iter().all(|(key, value)| node.labels.get(key) == Some(value))
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        let required_ok = match &pod.required_affinity {
            // Terms are ORed.
            Some(selector) => selector.node_selector_terms.iter().any(|term| term_matches(term, node)),
            None => true,
        };
        if selector_matches(&pod.node_selector, node) && required_ok {
            Ok(())
        } else {
            Err(Rejection::new(NAME, Code::UnschedulableAndUnresolvable, ERR_REASON_POD))
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        2
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        pod.preferred_affinity
            .iter()
            .filter(|term| term.weight != 0 && term_matches(&term.preference, node))
            .map(|term| i64::from(term.weight))
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as NodeAffinitySpec, NodeSelector, PreferredSchedulingTerm,
    };

    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()).filter(|v: &Vec<String>| !v.is_empty()),
        }
    }

    fn labelled(labels: &[(&str, &str)]) -> NodeInfo {
        let mut node = node("node-1", "1", "1Gi", "10");
        node.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        node
    }

    fn with_required(terms: Vec<NodeSelectorTerm>) -> PodInfo {
        let mut spec = pod_spec("", "");
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinitySpec {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector { node_selector_terms: terms }),
                ..Default::default()
            }),
            ..Default::default()
        });
        pod(spec)
    }

    fn expressions(requirements: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm { match_expressions: Some(requirements), match_fields: None }
    }

    #[test]
    fn node_selector_needs_every_label() {
        let node = labelled(&[("disk", "ssd"), ("zone", "a")]);
        let cases = [
            (vec![], true),
            (vec![("disk", "ssd")], true),
            (vec![("disk", "ssd"), ("zone", "b")], false),
            (vec![("gpu", "yes")], false),
        ];
        for (selector, fits) in cases {
            let mut spec = pod_spec("", "");
            spec.node_selector = Some(selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            let result = NodeAffinity.filter(&pod(spec), &node);
            assert_eq!(result.is_ok(), fits, "{selector:?}");
            if let Err(rejection) = result {
                assert_eq!(rejection.reasons, vec![ERR_REASON_POD]);
            }
        }
    }

    #[test]
    fn required_terms_and_operators() {
        let node = labelled(&[("disk", "ssd"), ("cores", "8")]);
        let cases = [
            ("In", vec![expressions(vec![requirement("disk", "In", &["ssd", "nvme"])])], true),
            ("In miss", vec![expressions(vec![requirement("disk", "In", &["hdd"])])], false),
            ("NotIn", vec![expressions(vec![requirement("disk", "NotIn", &["hdd"])])], true),
            ("NotIn absent label", vec![expressions(vec![requirement("gpu", "NotIn", &["x"])])], true),
            ("Exists", vec![expressions(vec![requirement("disk", "Exists", &[])])], true),
            ("DoesNotExist", vec![expressions(vec![requirement("disk", "DoesNotExist", &[])])], false),
            ("Gt", vec![expressions(vec![requirement("cores", "Gt", &["4"])])], true),
            ("Lt", vec![expressions(vec![requirement("cores", "Lt", &["4"])])], false),
            ("Gt non-integer", vec![expressions(vec![requirement("disk", "Gt", &["4"])])], false),
            (
                "AND within a term",
                vec![expressions(vec![requirement("disk", "In", &["ssd"]), requirement("cores", "Lt", &["2"])])],
                false,
            ),
            (
                "OR across terms",
                vec![
                    expressions(vec![requirement("disk", "In", &["hdd"])]),
                    expressions(vec![requirement("cores", "In", &["8"])]),
                ],
                true,
            ),
            ("empty term matches nothing", vec![NodeSelectorTerm::default()], false),
            (
                "matchFields on the name",
                vec![NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![requirement("metadata.name", "In", &["node-1"])]),
                }],
                true,
            ),
            (
                "matchFields miss",
                vec![NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![requirement("metadata.name", "In", &["node-2"])]),
                }],
                false,
            ),
        ];
        for (name, terms, fits) in cases {
            assert_eq!(NodeAffinity.filter(&with_required(terms), &node).is_ok(), fits, "{name}");
        }
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let mut spec = pod_spec("", "");
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinitySpec {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 10,
                        preference: expressions(vec![requirement("disk", "In", &["ssd"])]),
                    },
                    PreferredSchedulingTerm {
                        weight: 30,
                        preference: expressions(vec![requirement("zone", "In", &["a"])]),
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let pod = pod(spec);
        let nodes = [
            labelled(&[("disk", "ssd"), ("zone", "a")]),
            labelled(&[("zone", "a")]),
            labelled(&[("disk", "ssd")]),
            labelled(&[]),
        ];
        let mut scores: Vec<i64> = nodes.iter().map(|n| NodeAffinity.score(&pod, n)).collect();
        assert_eq!(scores, vec![40, 30, 10, 0]);
        NodeAffinity.normalize(&mut scores);
        assert_eq!(scores, vec![100, 75, 25, 0]);
    }
}
