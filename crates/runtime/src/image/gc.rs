//! Image garbage collection, as the kubelet's image GC manager does it: when the filesystem
//! holding the store is at or above `high_threshold_percent` (85) used, images no container
//! uses are removed, least recently used first, until the bytes freed bring usage down to
//! `low_threshold_percent` (80). Images younger than `min_age` are kept. Disk usage is
//! injected so the policy is testable without filling a disk.

use super::store::{ImageStore, Result, StoreError, now_secs};
use std::collections::HashSet;
use std::path::Path;

/// Capacity and free bytes of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub capacity: u64,
    pub available: u64,
}

/// The kubelet's defaults: `imageGCHighThresholdPercent` 85, `imageGCLowThresholdPercent` 80,
/// `imageMinimumGCAge` 2 minutes.
#[derive(Debug, Clone, Copy)]
pub struct GcPolicy {
    pub high_threshold_percent: u8,
    pub low_threshold_percent: u8,
    pub min_age_secs: u64,
}

impl Default for GcPolicy {
    fn default() -> Self {
        Self { high_threshold_percent: 85, low_threshold_percent: 80, min_age_secs: 120 }
    }
}

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub removed: Vec<String>,
    pub bytes_freed: u64,
    /// Bytes that still had to be freed when no more images could go (kubelet reports this
    /// as an error event "failed to garbage collect required amount of images").
    pub shortfall: u64,
}

/// statvfs(2) of the filesystem holding `path`.
pub fn filesystem_usage(path: &Path) -> std::io::Result<DiskUsage> {
    let s = nix::sys::statvfs::statvfs(path)?;
    let frsize = s.fragment_size() as u64;
    Ok(DiskUsage { capacity: s.blocks() as u64 * frsize, available: s.blocks_available() as u64 * frsize })
}

impl ImageStore {
    /// Runs image GC. `in_use` holds image names or image IDs (config digests) the agent's
    /// pods use; images with a prepared container rootfs are in use too.
    pub fn garbage_collect(
        &self,
        policy: GcPolicy,
        in_use: &HashSet<String>,
        usage: impl Fn() -> std::io::Result<DiskUsage>,
    ) -> Result<GcReport> {
        let u = usage().map_err(|source| StoreError::Io { context: "disk usage".into(), source })?;
        if u.capacity == 0 {
            return Ok(GcReport::default());
        }
        let used_percent = (u.capacity - u.available.min(u.capacity)) * 100 / u.capacity;
        if used_percent < policy.high_threshold_percent as u64 {
            return Ok(GcReport::default());
        }
        let target_available = u.capacity * (100 - policy.low_threshold_percent.min(100) as u64) / 100;
        let to_free = target_available.saturating_sub(u.available);
        let mut busy: HashSet<String> = in_use.clone();
        busy.extend(self.containers_using()?.into_iter().map(|(_, cfg)| cfg));
        let images = self.list()?;
        // Normalise user-style names the agent may pass ("nginx") to the store's names.
        let busy_names: HashSet<String> = busy
            .iter()
            .filter_map(|n| super::reference::Reference::parse_normalized(n).ok().map(|r| r.to_string()))
            .collect();
        let busy_configs: HashSet<String> = images
            .iter()
            .filter(|i| busy.contains(&i.name) || busy_names.contains(&i.name) || busy.contains(&i.config))
            .map(|i| i.config.clone())
            .collect();
        // One candidate per image ID (all its names go together), oldest use first.
        let mut candidates: Vec<(u64, String, u64, Vec<String>)> = Vec::new();
        let now = now_secs();
        for i in &images {
            if busy_configs.contains(&i.config) || now.saturating_sub(i.created) < policy.min_age_secs {
                continue;
            }
            match candidates.iter_mut().find(|c| c.1 == i.config) {
                Some(c) => {
                    c.0 = c.0.max(i.last_used);
                    c.3.push(i.name.clone());
                }
                None => candidates.push((i.last_used, i.config.clone(), i.size, vec![i.name.clone()])),
            }
        }
        candidates.sort();
        let mut report = GcReport::default();
        for (_, config, size, names) in candidates {
            if report.bytes_freed >= to_free {
                break;
            }
            self.update_names(|n| {
                for name in &names {
                    n.remove(name);
                }
                Ok(())
            })?;
            report.removed.extend(names);
            report.bytes_freed += size;
            tracing::info!(image = %config, size, "image garbage collected");
        }
        if report.bytes_freed > 0 {
            self.sweep()?;
        }
        report.shortfall = to_free.saturating_sub(report.bytes_freed);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::digest_of;
    use crate::image::oci;
    use crate::image::store::descriptor;
    use std::collections::BTreeMap;

    fn put(s: &ImageStore, name: &str, layer_size: usize, last_used: u64) {
        let layer = vec![name.len() as u8; layer_size];
        let layer = [name.as_bytes(), &layer].concat();
        s.write_blob(None, &layer).unwrap();
        let cfg = serde_json::to_vec(&serde_json::json!({"config":{},"rootfs":{"type":"layers","diff_ids":[digest_of(&layer)]},"architecture":name})).unwrap();
        s.write_blob(None, &cfg).unwrap();
        let m = oci::Manifest {
            schema_version: 2,
            media_type: Some(oci::MEDIA_OCI_MANIFEST.into()),
            config: descriptor(oci::MEDIA_OCI_CONFIG, &cfg),
            layers: vec![descriptor(oci::MEDIA_OCI_LAYER, &layer)],
            annotations: BTreeMap::new(),
        };
        let md = s.write_blob(None, &serde_json::to_vec(&m).unwrap()).unwrap();
        s.tag(name, &md).unwrap();
        s.update_names(|n| {
            let r = n.get_mut(name).unwrap();
            r.last_used = last_used;
            r.created = 0;
            Ok(())
        })
        .unwrap();
    }

    fn setup() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        put(&s, "docker.io/library/old:1", 1000, 100);
        put(&s, "docker.io/library/mid:1", 1000, 200);
        put(&s, "docker.io/library/new:1", 1000, 300);
        put(&s, "docker.io/library/used:1", 1000, 50);
        (d, s)
    }

    fn names(s: &ImageStore) -> Vec<String> {
        s.list().unwrap().into_iter().map(|i| i.name).collect()
    }

    #[test]
    fn below_high_threshold_does_nothing() {
        let (_d, s) = setup();
        let r = s
            .garbage_collect(GcPolicy::default(), &HashSet::new(), || {
                Ok(DiskUsage { capacity: 100_000, available: 15_001 })
            })
            .unwrap();
        assert_eq!(r, GcReport::default());
        assert_eq!(names(&s).len(), 4);
    }

    #[test]
    fn frees_down_to_low_threshold_oldest_first_skipping_used() {
        let (_d, s) = setup();
        // 86% used of 10 kB: reaching 80% needs 2000 - 1400 = 600 bytes freed, which one image
        // (about 1 kB) covers: the least recently used one that is not in use.
        let usage = || Ok(DiskUsage { capacity: 10_000, available: 1_400 });
        let in_use: HashSet<String> = ["used:1".to_string()].into();
        let r = s.garbage_collect(GcPolicy::default(), &in_use, usage).unwrap();
        assert_eq!(r.removed, vec!["docker.io/library/old:1".to_string()]);
        assert!(r.bytes_freed >= 600);
        assert_eq!(r.shortfall, 0);
        assert!(!names(&s).contains(&"docker.io/library/old:1".to_string()));
        // Needing more than all unused images: all go, in order, and a shortfall is reported.
        let r = s
            .garbage_collect(GcPolicy::default(), &in_use, || Ok(DiskUsage { capacity: 1_000_000, available: 0 }))
            .unwrap();
        assert_eq!(r.removed, vec!["docker.io/library/mid:1".to_string(), "docker.io/library/new:1".to_string()]);
        assert!(r.shortfall > 0);
        assert_eq!(names(&s), vec!["docker.io/library/used:1".to_string()]);
        // Content of removed images is swept; the used image's stays.
        assert_eq!(std::fs::read_dir(s.root().join("blobs/sha256")).unwrap().count(), 3);
    }

    #[test]
    fn young_images_are_kept() {
        let (_d, s) = setup();
        s.update_names(|n| {
            for r in n.values_mut() {
                r.created = now_secs();
            }
            Ok(())
        })
        .unwrap();
        let r = s
            .garbage_collect(GcPolicy::default(), &HashSet::new(), || Ok(DiskUsage { capacity: 100, available: 0 }))
            .unwrap();
        assert!(r.removed.is_empty());
        assert!(filesystem_usage(s.root()).unwrap().capacity > 0);
    }
}
