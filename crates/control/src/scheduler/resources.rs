//! Resource arithmetic for scheduling: `Quantity` parsing into integers (milli-CPU, bytes) and
//! a pod's effective requests as kube-scheduler computes them (`resource.PodRequests`): the
//! larger of the init containers' peak and the app containers' sum, with restartable init
//! containers (sidecars, KEP-753) counted alongside the app containers, plus pod overhead.
//!
//! Pure functions on pod and node specs; it must not know about plugins or the cache.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU with no request counts as 100m when scoring (`DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory with no request counts as 200 MiB when scoring (`DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A set of resource amounts: CPU in millicores, memory and ephemeral storage in bytes,
/// extended resources in their own integer units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources (`example.com/gpu`, `hugepages-2Mi`), by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Amounts of a `ResourceList`; unparsable quantities count as zero (the API server
    /// validated them, so this only guards against a foreign writer).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut resources = Resources::default();
        for (name, quantity) in list.into_iter().flatten() {
            resources.set(name, quantity);
        }
        resources
    }

    fn set(&mut self, name: &str, quantity: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = milli_value(&quantity.0).unwrap_or(0),
            "memory" => self.memory = value(&quantity.0).unwrap_or(0),
            "ephemeral-storage" => self.ephemeral_storage = value(&quantity.0).unwrap_or(0),
            // `pods` is a node capacity, not something pods request.
            "pods" => {}
            _ if is_scalar_resource(name) => {
                self.scalar.insert(name.to_string(), value(&quantity.0).unwrap_or(0));
            }
            _ => {}
        }
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_add(other.ephemeral_storage);
        for (name, amount) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_insert(0);
            *entry = entry.saturating_add(*amount);
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_sub(other.ephemeral_storage);
        for (name, amount) in &other.scalar {
            if let Some(entry) = self.scalar.get_mut(name) {
                *entry = entry.saturating_sub(*amount);
            }
        }
    }

    /// Each amount becomes the larger of the two.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, amount) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_insert(0);
            *entry = (*entry).max(*amount);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }
}

/// Extended resources and huge pages are what NodeResourcesFit checks beyond cpu, memory and
/// ephemeral storage (`IsScalarResourceName`).
fn is_scalar_resource(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

/// What a pod asks of its node, for filtering (`requests`) and scoring (`non_zero`, where a
/// container without a cpu or memory request counts the defaults, so empty pods still spread).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub requests: Resources,
    pub non_zero: Resources,
}

/// kube-scheduler's `PodRequests` (with `NonMissingContainerRequests` for `non_zero`).
pub fn pod_requests(spec: &PodSpec) -> PodRequests {
    let requests = aggregate(spec, |container| container_requests(container, false));
    let non_zero = aggregate(spec, |container| container_requests(container, true));
    PodRequests { requests, non_zero }
}

fn container_requests(container: &Container, non_zero: bool) -> Resources {
    let mut resources = Resources::from_list(container.resources.as_ref().and_then(|r| r.requests.as_ref()));
    if non_zero {
        let requests = container.resources.as_ref().and_then(|r| r.requests.as_ref());
        if !requests.is_some_and(|r| r.contains_key("cpu")) {
            resources.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !requests.is_some_and(|r| r.contains_key("memory")) {
            resources.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    resources
}

fn aggregate(spec: &PodSpec, requests_of: impl Fn(&Container) -> Resources) -> Resources {
    let mut total = Resources::default();
    for container in &spec.containers {
        total.add(&requests_of(container));
    }
    // Sidecars run for the pod's whole life, so they add to the app containers; a regular init
    // container runs alone, next to the sidecars started before it.
    let mut restartable = Resources::default();
    let mut init_peak = Resources::default();
    for container in spec.init_containers.iter().flatten() {
        let own = requests_of(container);
        let during = if container.restart_policy.as_deref() == Some("Always") {
            total.add(&own);
            restartable.add(&own);
            restartable.clone()
        } else {
            let mut during = own;
            during.add(&restartable);
            during
        };
        init_peak.max_with(&during);
    }
    total.max_with(&init_peak);
    if let Some(overhead) = &spec.overhead {
        total.add(&Resources::from_list(Some(overhead)));
    }
    total
}

/// A quantity in thousandths, rounded up (`Quantity.MilliValue`): `"100m"` is 100, `"1"` 1000.
pub fn milli_value(text: &str) -> Option<i64> {
    scaled(text, 3)
}

/// A quantity rounded up to an integer (`Quantity.Value`): `"1Gi"` is 1073741824.
pub fn value(text: &str) -> Option<i64> {
    scaled(text, 0)
}

/// Parses `<sign><digits>[.<digits>][suffix]` (suffix: binary `Ki`..`Ei`, decimal `n u m k M G
/// T P E`, or an exponent `e3`/`E-2`) and returns `quantity * 10^extra_decimals`, rounded up.
fn scaled(text: &str, extra_decimals: i32) -> Option<i64> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    // mantissa * 10^exponent10 * 1024^exponent2
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let mut exponent10 = -(fraction.len() as i32) + extra_decimals;
    let mut exponent2 = 0u32;
    match suffix {
        "" => {}
        "Ki" => exponent2 = 1,
        "Mi" => exponent2 = 2,
        "Gi" => exponent2 = 3,
        "Ti" => exponent2 = 4,
        "Pi" => exponent2 = 5,
        "Ei" => exponent2 = 6,
        "n" => exponent10 -= 9,
        "u" => exponent10 -= 6,
        "m" => exponent10 -= 3,
        "k" => exponent10 += 3,
        "M" => exponent10 += 6,
        "G" => exponent10 += 9,
        "T" => exponent10 += 12,
        "P" => exponent10 += 15,
        "E" => exponent10 += 18,
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            exponent10 += exponent.parse::<i32>().ok().filter(|e| e.abs() <= 40)?;
        }
    }
    let mut value = mantissa.checked_mul(1024i128.checked_pow(exponent2)?)?;
    if exponent10 >= 0 {
        value = value.checked_mul(10i128.checked_pow(exponent10 as u32)?)?;
    } else {
        let divisor = 10i128.checked_pow(exponent10.unsigned_abs()).unwrap_or(i128::MAX);
        // Round away from zero, as Quantity.Value does.
        value = value / divisor + i128::from(value % divisor != 0);
    }
    let value = i64::try_from(value).unwrap_or(i64::MAX);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    #[test]
    fn quantities_parse_as_kubernetes_does() {
        let cases: &[(&str, Option<i64>, Option<i64>)] = &[
            ("100m", Some(100), Some(1)),
            ("1", Some(1000), Some(1)),
            ("0.5", Some(500), Some(1)),
            ("1.5", Some(1500), Some(2)),
            ("2Ki", Some(2_048_000), Some(2048)),
            ("1Gi", Some(1_073_741_824_000), Some(1_073_741_824)),
            ("256Mi", Some(268_435_456_000), Some(268_435_456)),
            ("1k", Some(1_000_000), Some(1000)),
            ("1e3", Some(1_000_000), Some(1000)),
            ("1E-3", Some(1), Some(1)),
            ("1n", Some(1), Some(1)),
            ("0", Some(0), Some(0)),
            ("-1", Some(-1000), Some(-1)),
            ("", None, None),
            ("abc", None, None),
            ("1.2.3", None, None),
            ("5Xi", None, None),
            ("1e999", None, None),
        ];
        for (text, milli, whole) in cases {
            assert_eq!(milli_value(text), *milli, "milli {text:?}");
            assert_eq!(value(text), *whole, "value {text:?}");
        }
    }

    fn container(cpu: &str, memory: &str, restart_policy: Option<&str>) -> Container {
        let mut requests = BTreeMap::new();
        if !cpu.is_empty() {
            requests.insert("cpu".to_string(), Quantity(cpu.into()));
        }
        if !memory.is_empty() {
            requests.insert("memory".to_string(), Quantity(memory.into()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
            restart_policy: restart_policy.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_follow_init_sidecar_and_overhead_rules() {
        struct Case {
            name: &'static str,
            containers: Vec<Container>,
            init: Vec<Container>,
            overhead: Option<(&'static str, &'static str)>,
            cpu: i64,
            memory: i64,
            non_zero_cpu: i64,
        }
        let cases = vec![
            Case {
                name: "sum of app containers",
                containers: vec![container("100m", "1Mi", None), container("200m", "1Mi", None)],
                init: vec![],
                overhead: None,
                cpu: 300,
                memory: 2 << 20,
                non_zero_cpu: 300,
            },
            Case {
                name: "a big init container wins",
                containers: vec![container("100m", "1Mi", None)],
                init: vec![container("2", "", None)],
                overhead: None,
                cpu: 2000,
                memory: 1 << 20,
                non_zero_cpu: 2000,
            },
            Case {
                name: "sidecars add to the app containers and to later init containers",
                containers: vec![container("100m", "", None)],
                init: vec![container("50m", "", Some("Always")), container("500m", "", None)],
                overhead: None,
                // max(100 + 50, 50 + 500)
                cpu: 550,
                memory: 0,
                non_zero_cpu: 550,
            },
            Case {
                name: "init containers before a sidecar do not see it",
                containers: vec![container("100m", "", None)],
                init: vec![container("120m", "", None), container("50m", "", Some("Always"))],
                overhead: None,
                cpu: 150,
                memory: 0,
                non_zero_cpu: 150,
            },
            Case {
                name: "overhead is added",
                containers: vec![container("100m", "10Mi", None)],
                init: vec![],
                overhead: Some(("250m", "120Mi")),
                cpu: 350,
                memory: 130 << 20,
                non_zero_cpu: 350,
            },
            Case {
                name: "no requests: zero, but defaults when scoring",
                containers: vec![container("", "", None), container("", "", None)],
                init: vec![],
                overhead: None,
                cpu: 0,
                memory: 0,
                non_zero_cpu: 200,
            },
        ];
        for case in cases {
            let spec = PodSpec {
                containers: case.containers,
                init_containers: Some(case.init),
                overhead: case.overhead.map(|(cpu, memory)| {
                    BTreeMap::from([
                        ("cpu".to_string(), Quantity(cpu.into())),
                        ("memory".to_string(), Quantity(memory.into())),
                    ])
                }),
                ..Default::default()
            };
            let requests = pod_requests(&spec);
            assert_eq!(requests.requests.milli_cpu, case.cpu, "{}", case.name);
            assert_eq!(requests.requests.memory, case.memory, "{}", case.name);
            assert_eq!(requests.non_zero.milli_cpu, case.non_zero_cpu, "{}", case.name);
        }
    }

    #[test]
    fn extended_resources_are_tracked_and_unknown_names_ignored() {
        let list = BTreeMap::from([
            ("example.com/gpu".to_string(), Quantity("2".into())),
            ("hugepages-2Mi".to_string(), Quantity("4Mi".into())),
            ("pods".to_string(), Quantity("110".into())),
            ("kubernetes.io/something".to_string(), Quantity("1".into())),
        ]);
        let resources = Resources::from_list(Some(&list));
        assert_eq!(resources.scalar.get("example.com/gpu"), Some(&2));
        assert_eq!(resources.scalar.get("hugepages-2Mi"), Some(&(4 << 20)));
        assert_eq!(resources.scalar.len(), 2);
    }
}
