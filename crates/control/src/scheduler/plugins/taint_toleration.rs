//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep off pods that do not
//! tolerate them (filter); untolerated `PreferNoSchedule` taints make a node less attractive
//! (score, weight 3 as in the default profile).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::scheduler::framework::{
    Code, FilterPlugin, FilterResult, NodeInfo, PodInfo, Rejection, ScorePlugin, default_normalize,
};

pub const NAME: &str = "TaintToleration";

pub struct TaintToleration;

/// `Toleration.ToleratesTaint`: same effect (or the toleration names none), same key (or an
/// empty key with `Exists`, which tolerates everything), and `Exists` or an equal value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        let untolerated = node.taints.iter().find(|taint| {
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                && !pod.tolerations.iter().any(|toleration| tolerates(toleration, taint))
        });
        match untolerated {
            None => Ok(()),
            Some(taint) => Err(Rejection::new(
                NAME,
                Code::UnschedulableAndUnresolvable,
                format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value.as_deref().unwrap_or("")),
            )),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        3
    }

    /// The number of `PreferNoSchedule` taints the pod's `PreferNoSchedule` (or effect-less)
    /// tolerations leave untolerated; normalized in reverse, so fewer is better.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let tolerations: Vec<&Toleration> = pod
            .tolerations
            .iter()
            .filter(|t| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule")))
            .collect();
        node.taints
            .iter()
            .filter(|taint| taint.effect == "PreferNoSchedule")
            .filter(|taint| !tolerations.iter().any(|toleration| tolerates(toleration, taint)))
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec, taint};

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        Toleration {
            key: some(key),
            operator: some(operator),
            value: some(value),
            effect: some(effect),
            ..Default::default()
        }
    }

    #[test]
    fn toleration_matching() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        let cases = [
            (toleration("dedicated", "Equal", "gpu", "NoSchedule"), true),
            (toleration("dedicated", "", "gpu", "NoSchedule"), true),
            (toleration("dedicated", "Equal", "cpu", "NoSchedule"), false),
            (toleration("dedicated", "Exists", "", "NoSchedule"), true),
            (toleration("dedicated", "Exists", "", ""), true),
            (toleration("dedicated", "Exists", "", "NoExecute"), false),
            (toleration("", "Exists", "", ""), true),
            (toleration("other", "Exists", "", ""), false),
            (toleration("dedicated", "Bogus", "gpu", ""), false),
        ];
        for (toleration, expected) in cases {
            assert_eq!(tolerates(&toleration, &t), expected, "{toleration:?}");
        }
    }

    #[test]
    fn filter_refuses_untolerated_hard_taints_with_the_upstream_reason() {
        let cases = [
            (vec![], vec![], None),
            (vec![taint("a", "1", "PreferNoSchedule")], vec![], None),
            (
                vec![taint("node.kubernetes.io/unreachable", "", "NoExecute")],
                vec![],
                Some("node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
            ),
            (
                vec![taint("dedicated", "gpu", "NoSchedule")],
                vec![],
                Some("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                vec![taint("dedicated", "gpu", "NoSchedule")],
                vec![toleration("dedicated", "Equal", "gpu", "NoSchedule")],
                None,
            ),
            (
                vec![taint("a", "", "NoSchedule"), taint("b", "x", "NoExecute")],
                vec![toleration("a", "Exists", "", "")],
                Some("node(s) had untolerated taint {b: x}"),
            ),
        ];
        for (taints, tolerations, expected) in cases {
            let mut node = node("n", "1", "1Gi", "10");
            node.taints = taints.clone();
            let mut spec = pod_spec("", "");
            spec.tolerations = Some(tolerations);
            let result = TaintToleration.filter(&pod(spec), &node);
            assert_eq!(result.err().map(|r| r.reasons[0].clone()).as_deref(), expected, "{taints:?}");
        }
    }

    #[test]
    fn score_prefers_fewer_untolerated_prefer_no_schedule_taints() {
        let mut clean = node("clean", "1", "1Gi", "10");
        clean.taints = vec![];
        let mut one = node("one", "1", "1Gi", "10");
        one.taints = vec![taint("a", "", "PreferNoSchedule")];
        let mut two = node("two", "1", "1Gi", "10");
        two.taints = vec![taint("a", "", "PreferNoSchedule"), taint("b", "", "PreferNoSchedule")];
        let plain = pod(pod_spec("", ""));
        let mut scores: Vec<i64> = [&clean, &one, &two].iter().map(|n| TaintToleration.score(&plain, n)).collect();
        TaintToleration.normalize(&mut scores);
        assert_eq!(scores, vec![100, 50, 0]);
        let mut spec = pod_spec("", "");
        spec.tolerations = Some(vec![toleration("a", "Exists", "", "PreferNoSchedule")]);
        assert_eq!(TaintToleration.score(&pod(spec), &two), 1);
    }
}
