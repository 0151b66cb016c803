//! The static schema the decoder walks: message and field descriptions, and which message
//! type decodes the `raw` object of each `(apiVersion, kind)` a client may send.
//!
//! Owns the types of the table and the kind lookup. The per-message tables themselves live in
//! `generated.rs`, written by `tools/gen_schema.py` from Kubernetes' `generated.proto` files
//! (field numbers, protobuf types) and `types.go` files (JSON names, `omitempty`, Go pointers,
//! inlined structs); this file must not describe individual Kubernetes messages by hand.

use super::generated::*;

/// One protobuf message type.
#[derive(Debug)]
pub(crate) struct Message {
    /// Fully qualified protobuf name, for error messages.
    pub(crate) name: &'static str,
    /// Sorted by field number.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// The field with protobuf number `number`, if the schema knows it.
    pub(crate) fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields.binary_search_by_key(&number, |field| field.number).ok().map(|index| &self.fields[index])
    }
}

/// The protobuf type of a field, and with it its JSON form.
#[derive(Debug)]
pub(crate) enum Kind {
    /// `string` → JSON string.
    String,
    /// `bytes` (Go `[]byte`) → base64 JSON string.
    Bytes,
    /// `int32` → JSON number.
    Int32,
    /// `int64` → JSON number.
    Int64,
    /// `bool` → JSON boolean.
    Bool,
    /// An embedded message → JSON object.
    Message(&'static Message),
    /// `map<string, V>` (repeated `{1: key, 2: value}` entries) → JSON object.
    Map(&'static Kind),
    /// `metav1.Time` `{seconds, nanos}` → RFC 3339 string with whole seconds, `null` when zero.
    Time,
    /// `metav1.MicroTime` `{seconds, nanos}` → RFC 3339 string with 6 fractional digits, `null` when zero.
    MicroTime,
    /// `resource.Quantity` `{string}` → JSON string.
    Quantity,
    /// `intstr.IntOrString` `{type, intVal, strVal}` → JSON number or string.
    IntOrString,
    /// `metav1.FieldsV1` `{Raw}` → the JSON document held in `Raw`.
    FieldsV1,
}

/// Flag: `repeated` field (Go slice) → JSON array.
pub(crate) const REPEATED: u8 = 1;
/// Flag: the Go field is a pointer, so an explicit zero value is meaningful and kept.
pub(crate) const POINTER: u8 = 2;
/// Flag: the Go JSON tag has `omitempty`.
pub(crate) const OMITEMPTY: u8 = 4;
/// Flag: an embedded Go struct tagged `json:""`/`json:",inline"`: its fields go into the parent object.
pub(crate) const INLINE: u8 = 8;

/// One field of a [`Message`].
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    /// The JSON key; empty for inlined fields.
    pub(crate) json: &'static str,
    pub(crate) kind: Kind,
    flags: u8,
}

impl Field {
    pub(crate) fn repeated(&self) -> bool {
        self.flags & REPEATED != 0
    }
    pub(crate) fn pointer(&self) -> bool {
        self.flags & POINTER != 0
    }
    pub(crate) fn omitempty(&self) -> bool {
        self.flags & OMITEMPTY != 0
    }
    pub(crate) fn inline(&self) -> bool {
        self.flags & INLINE != 0
    }
}

/// Constructor used by the generated tables, to keep them one line per field.
pub(crate) const fn field(number: u32, json: &'static str, kind: Kind, flags: u8) -> Field {
    Field { number, json, kind, flags }
}

/// The message type of the `raw` object for a `typeMeta` of `(api_version, kind)`, or `None`
/// for kinds the server does not accept as request bodies.
pub(crate) fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    let message = match (api_version, kind) {
        ("v1", "Pod") => &CORE_V1_POD,
        ("v1", "Namespace") => &CORE_V1_NAMESPACE,
        ("v1", "Node") => &CORE_V1_NODE,
        ("v1", "Event") => &CORE_V1_EVENT,
        ("v1", "ConfigMap") => &CORE_V1_CONFIG_MAP,
        ("v1", "Secret") => &CORE_V1_SECRET,
        ("v1", "Service") => &CORE_V1_SERVICE,
        ("v1", "Endpoints") => &CORE_V1_ENDPOINTS,
        ("v1", "ServiceAccount") => &CORE_V1_SERVICE_ACCOUNT,
        ("v1", "Binding") => &CORE_V1_BINDING,
        // metav1.AddToGroupVersion registers DeleteOptions in every group version, so a typed
        // client encodes it with its own group's apiVersion (or meta.k8s.io/v1).
        (_, "DeleteOptions") => &META_V1_DELETE_OPTIONS,
        ("apps/v1", "Deployment") => &APPS_V1_DEPLOYMENT,
        ("apps/v1", "ReplicaSet") => &APPS_V1_REPLICA_SET,
        ("coordination.k8s.io/v1", "Lease") => &COORDINATION_V1_LEASE,
        ("autoscaling/v1", "Scale") => &AUTOSCALING_V1_SCALE,
        ("events.k8s.io/v1", "Event") => &EVENTS_V1_EVENT,
        ("policy/v1", "Eviction") => &POLICY_V1_EVICTION,
        _ => return None,
    };
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every message reachable from the root kinds.
    fn all_messages() -> Vec<&'static Message> {
        let roots = [
            ("v1", "Pod"),
            ("v1", "Namespace"),
            ("v1", "Node"),
            ("v1", "Event"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Service"),
            ("v1", "Endpoints"),
            ("v1", "ServiceAccount"),
            ("v1", "Binding"),
            ("v1", "DeleteOptions"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("coordination.k8s.io/v1", "Lease"),
            ("autoscaling/v1", "Scale"),
            ("events.k8s.io/v1", "Event"),
            ("policy/v1", "Eviction"),
        ];
        let mut stack: Vec<&'static Message> =
            roots.iter().map(|(v, k)| message_for(v, k).expect("root kind is in the table")).collect();
        let mut seen: Vec<&'static Message> = Vec::new();
        while let Some(message) = stack.pop() {
            if seen.iter().any(|m| std::ptr::eq(*m, message)) {
                continue;
            }
            seen.push(message);
            for field in message.fields {
                let mut kind = &field.kind;
                if let Kind::Map(value) = kind {
                    kind = value;
                }
                if let Kind::Message(inner) = kind {
                    stack.push(inner);
                }
            }
        }
        seen
    }

    #[test]
    fn tables_are_sorted_unique_and_named() {
        let messages = all_messages();
        assert!(messages.len() > 150, "PodSpec alone reaches well over 100 messages");
        for message in messages {
            for pair in message.fields.windows(2) {
                assert!(pair[0].number < pair[1].number, "{} fields out of order", message.name);
            }
            for field in message.fields {
                assert_eq!(field.inline(), field.json.is_empty(), "{}.{}", message.name, field.number);
                if field.inline() {
                    assert!(matches!(field.kind, Kind::Message(_)), "{} inlines a scalar", message.name);
                }
            }
        }
    }

    #[test]
    fn known_field_facts_from_types_go() {
        let spec = APPS_V1_DEPLOYMENT_SPEC.field(1).expect("DeploymentSpec.replicas");
        assert_eq!(spec.json, "replicas");
        assert!(spec.pointer() && matches!(spec.kind, Kind::Int32));
        let restart = CORE_V1_POD_SPEC.field(3).expect("PodSpec.restartPolicy");
        assert_eq!(restart.json, "restartPolicy");
        assert!(!restart.pointer() && restart.omitempty());
        let containers = CORE_V1_POD_SPEC.field(2).expect("PodSpec.containers");
        assert!(containers.repeated() && !containers.omitempty());
        let volume_source = CORE_V1_VOLUME.field(2).expect("Volume.volumeSource");
        assert!(volume_source.inline());
        assert!(matches!(CORE_V1_SECRET.field(2).map(|f| &f.kind), Some(Kind::Map(Kind::Bytes))));
        assert!(message_for("v1", "Deployment").is_none());
        assert!(message_for("apps/v1", "DeleteOptions").is_some());
    }
}
