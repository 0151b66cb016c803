//! `peapod image pull`: not wired yet.

pub fn run(_data_dir: &std::path::Path, reference: &str) -> anyhow::Result<()> {
    anyhow::bail!("pull of {reference}: registry pulls are not implemented yet")
}
