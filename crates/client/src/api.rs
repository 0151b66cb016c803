//! `Api<K>`: the verbs on one resource collection (a namespace's, or all of them), with the
//! URL layout of the Kubernetes REST API (`/api/v1/namespaces/{ns}/pods/{name}/status`).
//!
//! Owns URL building and the body/content type of each verb. It must not cache or retry;
//! callers decide (see [`watcher`](crate::watcher) and [`reflector`](crate::reflector)).

use std::marker::PhantomData;

use futures::stream::BoxStream;
use http::Method;
use http_body_util::BodyExt;
use k8s_openapi::api::autoscaling::v1::Scale;
use percent_encoding::utf8_percent_encode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::params::{COMPONENT, DeleteParams, ListParams, Patch, WatchParams};
use crate::resource::{ApiResource, Object, Resource};
use crate::watch::{WatchEvent, decode_stream};

const JSON: &str = "application/json";
/// What a metadata-only client asks for: objects as `PartialObjectMetadata` (lists as
/// `PartialObjectMetadataList`), as client-go's metadata informers do.
const PARTIAL_OBJECT_METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const PARTIAL_OBJECT_METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// A list response: the items and where the list stands.
#[derive(Clone, Debug, Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de>"))]
pub struct ObjectList<K> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<K>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The version to start a watch from to see every later change.
    #[serde(default)]
    pub resource_version: Option<String>,
    /// Set when more pages remain: pass it as `ListParams::continue_token`.
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
    #[serde(default)]
    pub remaining_item_count: Option<i64>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, K: Deserialize<'de>>(d: D) -> std::result::Result<Vec<K>, D::Error> {
    Ok(Option::<Vec<K>>::deserialize(d)?.unwrap_or_default())
}

/// The verbs on one collection of `K`.
pub struct Api<K> {
    client: Client,
    resource: ApiResource,
    namespace: Option<String>,
    /// `/api/v1/namespaces/default/pods`: everything but the object name.
    collection: String,
    /// Lists, gets and watches answer metadata only.
    metadata_only: bool,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            collection: self.collection.clone(),
            metadata_only: self.metadata_only,
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("collection", &self.collection).finish()
    }
}

impl<K: Resource> Api<K> {
    /// The objects of one namespace.
    pub fn namespaced(client: Client, namespace: &str) -> Self
    where
        K: k8s_openapi::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Self::with_resource(client, ApiResource::of::<K>(), Some(namespace))
    }

    /// The objects of the kubeconfig context's namespace.
    pub fn default_namespaced(client: Client) -> Self
    where
        K: k8s_openapi::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        let namespace = client.default_namespace().to_string();
        Self::namespaced(client, &namespace)
    }

    /// A cluster-scoped collection, or a namespaced kind across all namespaces (then only
    /// list and watch make sense, as in Kubernetes).
    pub fn all(client: Client) -> Self {
        Self::with_resource(client, ApiResource::of::<K>(), None)
    }
}

impl<K: Object> Api<K> {
    /// Any collection, for kinds known at run time (usually with `K = serde_json::Value`).
    /// The namespace is ignored for cluster-scoped resources.
    pub fn with_resource(client: Client, resource: ApiResource, namespace: Option<&str>) -> Self {
        let namespace = namespace.filter(|_| resource.namespaced).map(str::to_string);
        let mut collection = resource.group_version_path();
        if let Some(namespace) = &namespace {
            collection.push_str("/namespaces/");
            collection.extend(utf8_percent_encode(namespace, COMPONENT));
        }
        collection.push('/');
        collection.push_str(&resource.plural);
        Api { client, resource, namespace, collection, metadata_only: false, _kind: PhantomData }
    }

    /// Gets, lists and watches of this `Api` answer only the objects' metadata
    /// (`PartialObjectMetadata`), which is all an owner-reference graph needs and a fraction of
    /// the bytes to send and decode. Objects come with `kind: PartialObjectMetadata`.
    pub fn metadata_only(mut self) -> Self {
        self.metadata_only = true;
        self
    }

    fn accept(&self, list: bool) -> &'static str {
        match (self.metadata_only, list) {
            (false, _) => JSON,
            (true, false) => PARTIAL_OBJECT_METADATA,
            (true, true) => PARTIAL_OBJECT_METADATA_LIST,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub async fn get(&self, name: &str) -> Result<K> {
        let path = self.object_path(name, None)?;
        let bytes = self.client.request_bytes_as(Method::GET, &path, None, self.accept(false)).await?;
        Ok(self.typed(serde_json::from_slice(&bytes)?))
    }

    /// `get`, with a missing object as `None`.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(object) => Ok(Some(object)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One page of the collection (all of it without `limit`).
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>> {
        let path = format!("{}{}", self.collection, params.query());
        let bytes = self.client.request_bytes_as(Method::GET, &path, None, self.accept(true)).await?;
        let mut list: ObjectList<K> = serde_json::from_slice(&bytes)?;
        let api_version = self.resource.api_version();
        for item in &mut list.items {
            item.fill_type_meta(&api_version, &self.resource.kind);
        }
        Ok(list)
    }

    /// Every page, following continue tokens (all pages are one consistent snapshot).
    pub async fn list_all(&self, params: &ListParams) -> Result<ObjectList<K>> {
        let mut params = params.clone();
        let mut all = self.list(&params).await?;
        while let Some(token) = all.metadata.continue_token.take().filter(|t| !t.is_empty()) {
            params.continue_token = Some(token);
            let page = self.list(&params).await?;
            all.items.extend(page.items);
            all.metadata.continue_token = page.metadata.continue_token;
        }
        Ok(all)
    }

    pub async fn create(&self, object: &K) -> Result<K> {
        let body = serde_json::to_vec(object)?;
        Ok(self.typed(self.client.request(Method::POST, &self.collection, Some((body, JSON))).await?))
    }

    /// PUT: replaces the whole object. With `metadata.resourceVersion` set this is a
    /// compare-and-swap (409 Conflict when the object changed since).
    pub async fn replace(&self, name: &str, object: &K) -> Result<K> {
        let path = self.object_path(name, None)?;
        let body = serde_json::to_vec(object)?;
        Ok(self.typed(self.client.request(Method::PUT, &path, Some((body, JSON))).await?))
    }

    pub async fn patch(&self, name: &str, patch: &Patch) -> Result<K> {
        let path = self.object_path(name, None)?;
        Ok(self.typed(self.send_patch(&path, patch).await?))
    }

    /// Deletes an object. The server answers with the object (its last state, or with
    /// `deletionTimestamp` set while finalizers or a grace period hold it) or with a success
    /// `Status` (then `None`).
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<Option<K>> {
        let path = self.object_path(name, None)?;
        let body = serde_json::to_vec(&params.body())?;
        let value: Value = self.client.request(Method::DELETE, &path, Some((body, JSON))).await?;
        if value.get("kind").and_then(Value::as_str) == Some("Status") {
            return Ok(None);
        }
        Ok(Some(self.typed(serde_json::from_value(value)?)))
    }

    /// PUT on `/status`: only the status of the object changes.
    pub async fn replace_status(&self, name: &str, object: &K) -> Result<K> {
        let path = self.object_path(name, Some("status"))?;
        let body = serde_json::to_vec(object)?;
        Ok(self.typed(self.client.request(Method::PUT, &path, Some((body, JSON))).await?))
    }

    pub async fn patch_status(&self, name: &str, patch: &Patch) -> Result<K> {
        let path = self.object_path(name, Some("status"))?;
        Ok(self.typed(self.send_patch(&path, patch).await?))
    }

    /// The `scale` subresource (`autoscaling/v1 Scale`).
    pub async fn get_scale(&self, name: &str) -> Result<Scale> {
        let path = self.object_path(name, Some("scale"))?;
        self.client.request(Method::GET, &path, None).await
    }

    pub async fn replace_scale(&self, name: &str, scale: &Scale) -> Result<Scale> {
        let path = self.object_path(name, Some("scale"))?;
        let body = serde_json::to_vec(scale)?;
        self.client.request(Method::PUT, &path, Some((body, JSON))).await
    }

    pub async fn patch_scale(&self, name: &str, patch: &Patch) -> Result<Scale> {
        let path = self.object_path(name, Some("scale"))?;
        self.send_patch(&path, patch).await
    }

    /// POST to a subresource, e.g. `pods/binding` with a `Binding` (whose answer is a
    /// `Status`) or `pods/eviction`.
    pub async fn create_subresource<B: Serialize, R: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        body: &B,
    ) -> Result<R> {
        let path = self.object_path(name, Some(subresource))?;
        let body = serde_json::to_vec(body)?;
        self.client.request(Method::POST, &path, Some((body, JSON))).await
    }

    /// A GET on a subresource answering JSON.
    pub async fn get_subresource<R: DeserializeOwned>(&self, subresource: &str, name: &str) -> Result<R> {
        let path = self.object_path(name, Some(subresource))?;
        self.client.request(Method::GET, &path, None).await
    }

    /// Opens a watch. Failures to start it (a 410 answered as an HTTP status, a bad
    /// selector) are the `Err` here; once open, the stream yields events until the server
    /// ends it (its timeout) or the connection breaks (an `Err` item, then the end).
    pub async fn watch(&self, params: &WatchParams) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
        let path = format!("{}{}", self.collection, params.query());
        let body = self.client.request_stream_as(Method::GET, &path, self.accept(false)).await?;
        let chunks = body.into_data_stream();
        Ok(decode_stream(chunks, (self.resource.api_version(), self.resource.kind.clone())))
    }

    fn object_path(&self, name: &str, subresource: Option<&str>) -> Result<String> {
        // "." and ".." would be normalized away by URL handling and address the collection.
        if name.is_empty() || name == "." || name == ".." {
            return Err(Error::Request(format!("invalid {} name {name:?}", self.resource.kind)));
        }
        let mut path = format!("{}/{}", self.collection, utf8_percent_encode(name, COMPONENT));
        if let Some(subresource) = subresource {
            if subresource.is_empty() || subresource.contains(['/', '?', '#']) {
                return Err(Error::Request(format!("invalid subresource {subresource:?}")));
            }
            path.push('/');
            path.push_str(subresource);
        }
        Ok(path)
    }

    async fn send_patch<R: DeserializeOwned>(&self, path: &str, patch: &Patch) -> Result<R> {
        let body = serde_json::to_vec(patch.body())?;
        self.client.request(Method::PATCH, path, Some((body, patch.content_type()))).await
    }

    /// Responses are decoded straight from their bytes into `K` (no `Value` in between);
    /// this fills the type metadata servers may leave out.
    fn typed(&self, mut object: K) -> K {
        object.fill_type_meta(&self.resource.api_version(), &self.resource.kind);
        object
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Pod};

    fn client() -> Client {
        Client::new(Config::new("http://127.0.0.1:1", None, None)).expect("client")
    }

    #[test]
    fn paths_follow_the_rest_layout() {
        let pods = Api::<Pod>::namespaced(client(), "default");
        assert_eq!(
            pods.object_path("web-0", Some("status")).ok(),
            Some("/api/v1/namespaces/default/pods/web-0/status".into())
        );
        let nodes = Api::<Node>::all(client());
        assert_eq!(nodes.object_path("n1", None).ok(), Some("/api/v1/nodes/n1".into()));
        let deployments = Api::<Deployment>::namespaced(client(), "team a");
        assert_eq!(
            deployments.object_path("web", Some("scale")).ok(),
            Some("/apis/apps/v1/namespaces/team%20a/deployments/web/scale".into())
        );
        let all_pods = Api::<Pod>::all(client());
        assert_eq!(all_pods.collection, "/api/v1/pods");
        let nodes_in_ns = Api::<Value>::with_resource(client(), ApiResource::of::<Node>(), Some("ignored"));
        assert_eq!(nodes_in_ns.collection, "/api/v1/nodes");
    }

    #[test]
    fn bad_names_are_errors() {
        let pods = Api::<Pod>::namespaced(client(), "default");
        for name in ["", ".", ".."] {
            assert!(matches!(pods.object_path(name, None), Err(Error::Request(_))), "{name:?}");
        }
        assert_eq!(pods.object_path("a/b?c", None).ok(), Some("/api/v1/namespaces/default/pods/a%2Fb%3Fc".into()));
        assert!(pods.object_path("a", Some("x/y")).is_err());
    }

    #[test]
    fn lists_tolerate_null_items() {
        let list: ObjectList<Pod> =
            serde_json::from_str(r#"{"metadata":{"resourceVersion":"5","continue":"t"},"items":null}"#)
                .expect("decode");
        assert!(list.items.is_empty());
        assert_eq!(list.metadata.resource_version.as_deref(), Some("5"));
        assert_eq!(list.metadata.continue_token.as_deref(), Some("t"));
    }
}
