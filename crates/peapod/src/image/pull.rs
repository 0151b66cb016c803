//! `peapod image pull REF`: a registry pull with progress on stderr (a one-line bar redrawn in
//! place on a terminal; otherwise one line per blob and a summary, for logs) and, on stdout,
//! the `crictl pull` answer `Image is up to date for <image ID>`. Output only: the pull itself
//! is `runtime::image::pull`.

use super::human_size;
use anyhow::Context;
use runtime::image::ImageStore;
use runtime::image::pull::{Progress, PullOptions, Puller, registries_path};
use runtime::image::registries::Registries;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Redraws of the terminal bar at most this often (each byte chunk reports progress).
const REDRAW: Duration = Duration::from_millis(100);
const BAR_WIDTH: u64 = 30;

/// What the progress display knows so far.
struct Display {
    tty: bool,
    /// Blobs (layers and config) and their total size, once the manifest is read.
    blobs: usize,
    total: u64,
    done: usize,
    /// Bytes received per blob digest.
    received: HashMap<String, u64>,
    cached: u64,
    last_draw: Option<Instant>,
}

impl Display {
    fn on(&mut self, p: Progress) {
        match p {
            Progress::Resolved { layers, total_bytes } => {
                self.blobs = layers + 1;
                self.total = total_bytes;
                if !self.tty {
                    eprintln!("Resolved: {layers} layers, {}", human_size(total_bytes));
                }
            }
            Progress::Downloading { digest, done, .. } => {
                self.received.insert(digest, done);
            }
            Progress::LayerDone { digest, size, cached } => {
                self.done += 1;
                self.received.insert(digest.clone(), size);
                if cached {
                    self.cached += size;
                }
                if !self.tty {
                    let short: String = digest.strip_prefix("sha256:").unwrap_or(&digest).chars().take(12).collect();
                    let what = if cached { "Already exists" } else { "Pull complete" };
                    eprintln!("{short}: {what} ({}) [{}/{}]", human_size(size), self.done, self.blobs);
                }
                // A finished blob always redraws, so the bar ends at its final state.
                self.last_draw = None;
            }
        }
        if self.tty && self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.last_draw = Some(Instant::now());
            eprint!("\r{}", self.bar());
        }
    }

    /// `[#########                     ] 2/5 blobs, 10.5MB/31.5MB`
    fn bar(&self) -> String {
        let bytes: u64 = self.received.values().sum::<u64>().min(self.total);
        let filled = (bytes * BAR_WIDTH).checked_div(self.total).unwrap_or(0).min(BAR_WIDTH) as usize;
        format!(
            "[{}{}] {}/{} blobs, {}/{}",
            "#".repeat(filled),
            " ".repeat(BAR_WIDTH as usize - filled),
            self.done,
            self.blobs,
            human_size(bytes),
            human_size(self.total)
        )
    }
}

pub fn run(data_dir: &std::path::Path, reference: &str) -> anyhow::Result<()> {
    let store = ImageStore::open(data_dir).with_context(|| format!("open image store in {}", data_dir.display()))?;
    let registries = Registries::load(&registries_path(data_dir))?;
    let puller = Puller::new(store.clone(), registries);
    let tty = std::io::stderr().is_terminal();
    let display = Arc::new(Mutex::new(Display {
        tty,
        blobs: 0,
        total: 0,
        done: 0,
        received: HashMap::new(),
        cached: 0,
        last_draw: None,
    }));
    let d = display.clone();
    let progress: Arc<dyn Fn(Progress) + Send + Sync> =
        Arc::new(move |p| d.lock().unwrap_or_else(|e| e.into_inner()).on(p));
    if !tty {
        eprintln!("Pulling {reference}");
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let opts = PullOptions { credentials: None, progress: Some(progress) };
    let img = rt.block_on(puller.pull(reference, &opts));
    if tty {
        eprintln!();
    }
    let img = img?;
    let (total, cached) = {
        let d = display.lock().unwrap_or_else(|e| e.into_inner());
        (d.total, d.cached)
    };
    store.ensure_unpacked(&img).with_context(|| format!("unpack {}", img.name))?;
    eprintln!(
        "Pulled {} ({}): {} downloaded, {} already present, in {:.1}s",
        img.name,
        img.target,
        human_size(total.saturating_sub(cached)),
        human_size(cached),
        started.elapsed().as_secs_f64()
    );
    println!("Image is up to date for {}", img.config);
    Ok(())
}
