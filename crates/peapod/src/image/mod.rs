//! `peapod image import|ls|rm|pull`: the node's image store from the command line (the
//! `crictl images` / `ctr image import` of peapod). Flags and output only: the store itself is
//! `runtime::image`. Also the hidden `build-local` that `scripts/build-images.sh` uses.

use anyhow::Context;
use clap::{Args, Subcommand};
use runtime::image::{ImageRecord, ImageStore, Reference};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImageArgs {
    /// Node state directory (the store is DIR/agent/images).
    #[arg(long, global = true, default_value = "/var/lib/peapod")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import docker-archive (`docker save`) or OCI-layout tarballs (plain, .gz or .zst).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only store the content; unpack the layers when a container first needs them.
        #[arg(long)]
        no_unpack: bool,
    },
    /// List images (IMAGE, TAG, IMAGE ID, SIZE), like `crictl images`.
    #[command(alias = "list")]
    Ls {
        /// Print only image IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Show full digests.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove images by reference or image ID, and the content only they used.
    #[command(alias = "rmi")]
    Rm {
        #[arg(required = true)]
        refs: Vec<String>,
    },
    /// Pull an image from its registry (mirrors and credentials from DIR/registries.yaml).
    Pull { reference: String },
    /// Build a one-layer OCI archive from a root filesystem directory (used by scripts/build-images.sh).
    #[command(hide = true)]
    BuildLocal {
        #[arg(long)]
        rootfs: PathBuf,
        /// JSON spec: {"name", "env", "cmd", "entrypoint", "workingDir", "exposedPorts"}.
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(args: ImageArgs) -> anyhow::Result<()> {
    let open =
        || ImageStore::open(&args.data_dir).with_context(|| format!("open image store in {}", args.data_dir.display()));
    match args.command {
        ImageCommand::Import { files, no_unpack } => {
            let store = open()?;
            for f in files {
                let imgs = store.import_file(&f).with_context(|| format!("import {}", f.display()))?;
                for img in imgs {
                    if !no_unpack {
                        store.ensure_unpacked(&img).with_context(|| format!("unpack {}", img.name))?;
                    }
                    println!("Imported {} ({})", img.name, img.target);
                }
            }
            Ok(())
        }
        ImageCommand::Ls { quiet, no_trunc } => {
            let store = open()?;
            print!("{}", render_list(&store.list()?, quiet, no_trunc));
            Ok(())
        }
        ImageCommand::Rm { refs } => {
            let store = open()?;
            for r in refs {
                for name in store.remove(&r).with_context(|| format!("remove {r}"))? {
                    println!("Deleted: {name}");
                }
            }
            Ok(())
        }
        ImageCommand::Pull { reference } => pull::run(&args.data_dir, &reference),
        ImageCommand::BuildLocal { rootfs, spec, out } => {
            let body = std::fs::read(&spec).with_context(|| format!("read {}", spec.display()))?;
            let spec: runtime::image::build::BuildSpec =
                serde_json::from_slice(&body).with_context(|| format!("parse {}", spec.display()))?;
            runtime::image::build::build_oci_archive(&rootfs, &spec, &out)?;
            println!("{}", out.display());
            Ok(())
        }
    }
}

mod pull;

/// `crictl images` columns; sizes as Docker's `HumanSizeWithPrecision(size, 3)`.
fn render_list(images: &[ImageRecord], quiet: bool, no_trunc: bool) -> String {
    let id = |img: &ImageRecord| {
        let hex = img.config.strip_prefix("sha256:").unwrap_or(&img.config);
        if no_trunc { img.config.clone() } else { hex.chars().take(13).collect() }
    };
    if quiet {
        let mut ids: Vec<String> = images.iter().map(id).collect();
        ids.dedup();
        return ids.iter().map(|i| format!("{i}\n")).collect();
    }
    let mut rows = vec![["IMAGE".to_string(), "TAG".into(), "IMAGE ID".into(), "SIZE".into()]];
    for img in images {
        let (repo, tag) = match Reference::parse_normalized(&img.name) {
            Ok(r) => (r.name(), r.tag.unwrap_or_else(|| "<none>".into())),
            Err(_) => (img.name.clone(), "<none>".into()),
        };
        rows.push([repo, tag, id(img), human_size(img.size)]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = (0..4).map(|c| format!("{:<w$}", r[c], w = widths[c])).collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Decimal units with three significant digits: `2.22MB`, `187MB`, `999B`.
fn human_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size as f64;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    // Go's %.3g: three significant digits, trailing zeros dropped.
    let digits = if s >= 100.0 {
        0
    } else if s >= 10.0 {
        1
    } else {
        2
    };
    let mut n = format!("{s:.digits$}");
    if n.contains('.') {
        n = n.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{n}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_crictl() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_224_567), "2.22MB");
        assert_eq!(human_size(187_400_000), "187MB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(10_000), "10kB");
    }

    #[test]
    fn list_columns() {
        let rec = ImageRecord {
            name: "docker.io/library/busybox:latest".into(),
            target: "sha256:aa".into(),
            manifest: "sha256:aa".into(),
            config: "sha256:6fd955f66c231c1a946653170d096a83f15d7f7b1b1b7a31c7fe7c5e6d0a2d2b".into(),
            layers: vec![],
            size: 2_224_567,
            created: 0,
            last_used: 0,
        };
        let out = render_list(&[rec], false, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "IMAGE                       TAG      IMAGE ID        SIZE");
        assert_eq!(lines[1], "docker.io/library/busybox   latest   6fd955f66c231   2.22MB");
    }
}
