//! Secret defaults: type Opaque (SetDefaults_Secret), and the v1→internal conversion's merge of
//! the write-only `stringData` into `data` (base64-encoded; stringData wins), which Kubernetes
//! does before validation and storage.

use base64::Engine;
use serde_json::{Map, Value};

use super::set_default;

pub fn default_secret(secret: &mut Map<String, Value>) {
    set_default(secret, "type", "Opaque");
    let Some(Value::Object(string_data)) = secret.remove("stringData") else { return };
    let mut data = match secret.remove("data") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (key, value) in string_data {
        let text = value.as_str().unwrap_or_default().to_string();
        data.insert(key, Value::from(base64::engine::general_purpose::STANDARD.encode(text)));
    }
    secret.insert("data".to_string(), Value::Object(data));
}
