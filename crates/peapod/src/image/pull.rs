//! `peapod image pull REF`: a registry pull with a one-line progress display on a terminal.

use anyhow::Context;
use runtime::image::ImageStore;
use runtime::image::pull::{Progress, PullOptions, Puller, registries_path};
use runtime::image::registries::Registries;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub fn run(data_dir: &std::path::Path, reference: &str) -> anyhow::Result<()> {
    let store = ImageStore::open(data_dir).with_context(|| format!("open image store in {}", data_dir.display()))?;
    let registries = Registries::load(&registries_path(data_dir))?;
    let puller = Puller::new(store.clone(), registries);
    let tty = std::io::stderr().is_terminal();
    let state = Arc::new((AtomicUsize::new(0), AtomicU64::new(0), Mutex::new((0usize, 0u64))));
    let s = state.clone();
    let progress: Arc<dyn Fn(Progress) + Send + Sync> = Arc::new(move |p| {
        match p {
            Progress::Resolved { layers, total_bytes } => {
                *s.2.lock().unwrap_or_else(|e| e.into_inner()) = (layers + 1, total_bytes);
            }
            Progress::LayerDone { size, .. } => {
                s.0.fetch_add(1, Ordering::Relaxed);
                s.1.fetch_add(size, Ordering::Relaxed);
            }
        }
        if tty {
            let (n, total) = *s.2.lock().unwrap_or_else(|e| e.into_inner());
            let done = s.0.load(Ordering::Relaxed);
            let bytes = s.1.load(Ordering::Relaxed);
            let width = 30;
            let filled = (bytes.min(total) * width).checked_div(total).unwrap_or(0) as usize;
            eprint!(
                "\r[{}{}] {done}/{n} blobs, {:.1}/{:.1} MB",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                bytes as f64 / 1e6,
                total as f64 / 1e6
            );
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let opts = PullOptions { credentials: None, progress: Some(progress) };
    let img = rt.block_on(puller.pull(reference, &opts));
    if tty {
        eprintln!();
    }
    let img = img?;
    store.ensure_unpacked(&img).with_context(|| format!("unpack {}", img.name))?;
    println!("Image is up to date for {}", img.config);
    Ok(())
}
