//! `peapod-bench pods`: issue 5's pod benchmarks, side by side in one run. The same
//! one-container busybox pod (`sleep 3600`) is run by `peapod server` with its node agent, by
//! `podman kube play` (when podman is installed), and, as the floor, a bare `crun run` (or
//! `runc run`) of `true` from a busybox bundle. Four figures: startup latency of 50
//! sequential pods (create request to Running seen on a watch), 100 pods at once until all
//! are Running, memory per running pod beyond the containers' own processes, and deleting
//! the 100 pods until nothing is left on the host.
//!
//! This module owns the settings, the order of the sides, the results table and the small
//! `/proc` readers the sides share. The sides live in `peapod_side`, `podman_side` and
//! `crun_side`; each cleans up everything it created, even when it fails. Figures only: it
//! asserts nothing and is not a test.

mod crun_side;
mod peapod_side;
mod podman_side;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use crate::server::Launch;
use crate::stats::{self, Summary};

/// The flags of `peapod-bench pods`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct PodsArgs {
    /// Install podman with apt-get when it is missing (otherwise its column is skipped).
    #[arg(long)]
    pub install_podman: bool,
    /// Pods started one after the other for the startup latency.
    #[arg(long, default_value_t = 50)]
    pub sequential: usize,
    /// Pods created at once for the throughput, memory and delete figures.
    #[arg(long, default_value_t = 100)]
    pub burst: usize,
    /// Runs of the OCI runtime for the floor.
    #[arg(long, default_value_t = 50)]
    pub floor_runs: usize,
    /// The pod CIDR of the benchmark's node (podman's default networks use 10.88.0.0/16 and
    /// 10.89.0.0/24, so this stays clear of them).
    #[arg(long, default_value = "10.77.0.0/24")]
    pub pod_cidr: String,
    /// The bridge the benchmark's node creates (deleted at the end).
    #[arg(long, default_value = "ppbench0")]
    pub bridge_name: String,
    /// The repository checkout: `scripts/build-images.sh` and `images/out/busybox.tar` are
    /// taken from it (default: the checkout this benchmark was built from).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Upper bound on any one wait (a pod to run, all pods to go, a node to be Ready).
    #[arg(long, default_value_t = 300)]
    pub wait_seconds: u64,
    /// Skip the podman column even when podman is installed.
    #[arg(long)]
    pub skip_podman: bool,
}

/// What one side measured. Every figure is optional: a side that could not measure one says
/// why in `notes` rather than printing a number it does not have.
#[derive(Debug, Default)]
pub struct Figures {
    /// Per pod, create request to Running (peapod), or `podman kube play` wall time, or one
    /// `crun run` of `true` (floor).
    pub startup: Option<Summary>,
    pub burst: Option<Burst>,
    /// Bytes of memory (Pss) per running pod beyond the containers' own processes, in KiB.
    pub overhead_kib_per_pod: Option<f64>,
    /// Delete request(s) to nothing left.
    pub delete: Option<Duration>,
    pub notes: Vec<String>,
}

/// `pods` reached Running in `elapsed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Burst {
    pub pods: usize,
    pub elapsed: Duration,
}

impl Burst {
    pub fn per_second(&self) -> f64 {
        self.pods as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What became of one side.
pub enum Outcome {
    Measured(Figures),
    Skipped(String),
    Failed(String),
}

impl Outcome {
    fn figures(&self) -> Option<&Figures> {
        match self {
            Outcome::Measured(figures) => Some(figures),
            _ => None,
        }
    }
}

/// The shared sizes and paths every side reads.
#[derive(Clone)]
pub struct Plan {
    pub args: PodsArgs,
    pub clients: usize,
    pub repo: PathBuf,
    pub wait: Duration,
}

impl Plan {
    pub fn busybox_tar(&self) -> PathBuf {
        self.repo.join("images/out/busybox.tar")
    }
}

/// Issue 5's goals and the reference podman rate the throughput goal is relative to when
/// podman is not measured here (DESIGN.md: 50 pods in sequence, 1.8 pods/s).
const STARTUP_P50_GOAL: Duration = Duration::from_millis(100);
const REFERENCE_PODMAN_RATE: f64 = 1.8;
const OVERHEAD_GOAL_KIB: f64 = 1024.0;

/// Runs the three sides in order (floor, podman, peapod) and prints the table. Fails when the
/// peapod side failed, after printing what the others measured.
pub async fn main(launch: &Launch, args: &PodsArgs, clients: usize) -> anyhow::Result<()> {
    if !is_root() {
        bail!("`peapod-bench pods` runs containers, pod networks and podman: run it as root");
    }
    if args.sequential == 0 || args.burst == 0 || args.floor_runs == 0 || clients == 0 {
        bail!("--sequential, --burst, --floor-runs and --clients must be at least 1");
    }
    let repo = match &args.repo {
        Some(repo) => repo.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let plan = Plan { args: args.clone(), clients, repo, wait: Duration::from_secs(args.wait_seconds) };

    eprintln!("floor: {} runs of the OCI runtime...", args.floor_runs);
    let floor = crun_side::run(&plan).await;
    eprintln!("podman...");
    let podman = podman_side::run(&plan).await;
    eprintln!("peapod...");
    let peapod = peapod_side::run(launch, &plan).await;

    println!();
    println!(
        "peapod-bench pods ({} build of the benchmark), server {}, {} CPUs",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        launch.binary.display(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    );
    println!();
    print!("{}", render(&rows(&plan, &peapod, &podman, &floor)));
    println!();
    for (side, outcome) in [("peapod", &peapod), ("podman", &podman), ("floor", &floor)] {
        match outcome {
            Outcome::Measured(figures) => {
                for note in &figures.notes {
                    println!("{side}: {note}");
                }
            }
            Outcome::Skipped(why) => println!("{side}: skipped: {why}"),
            Outcome::Failed(error) => println!("{side}: FAILED: {error}"),
        }
    }
    println!("ratio: podman's figure over peapod's for times and memory, peapod's pods/s over podman's for rates");
    println!(
        "(above 1: peapod is better). Percentiles are nearest-rank: p99 of {} samples is the slowest one.",
        args.sequential
    );
    if let Outcome::Failed(error) = &peapod {
        bail!("the peapod side failed: {error}");
    }
    Ok(())
}

/// One line of the table: the measurement, then one cell per column of [`HEADER`].
type Line = [String; 7];

const HEADER: [&str; 7] = ["measurement", "peapod", "podman", "crun/runc floor", "ratio", "goal", "met?"];

fn rows(plan: &Plan, peapod: &Outcome, podman: &Outcome, floor: &Outcome) -> Vec<Line> {
    let ours = peapod.figures();
    let theirs = podman.figures();
    let floor = floor.figures();
    let mut lines = Vec::new();

    let p50 = |figures: Option<&Figures>| figures.and_then(|f| f.startup).map(|s| s.p50);
    let p99 = |figures: Option<&Figures>| figures.and_then(|f| f.startup).map(|s| s.p99);
    let sequential = plan.args.sequential;
    let startup = format!("pod startup, {sequential} sequential pods");
    let goal_met = p50(ours).map(|p| verdict(p <= STARTUP_P50_GOAL));
    lines.push([
        format!("{startup}: p50"),
        cell(p50(ours).map(stats::duration)),
        cell(p50(theirs).map(stats::duration)),
        cell(p50(floor).map(stats::duration)),
        cell(ratio(p50(theirs).map(secs), p50(ours).map(secs))),
        format!("< {}", stats::duration(STARTUP_P50_GOAL)),
        cell(goal_met),
    ]);
    lines.push([
        format!("{startup}: p99"),
        cell(p99(ours).map(stats::duration)),
        cell(p99(theirs).map(stats::duration)),
        cell(p99(floor).map(stats::duration)),
        cell(ratio(p99(theirs).map(secs), p99(ours).map(secs))),
        "-".into(),
        String::new(),
    ]);

    let burst = |figures: Option<&Figures>| figures.and_then(|f| f.burst);
    let rate = |b: Burst| format!("{:.1} pods/s ({})", b.per_second(), stats::duration(b.elapsed));
    let podman_rate = burst(theirs).map(|b| b.per_second());
    let (goal_rate, goal_text) = match podman_rate {
        Some(measured) => (10.0 * measured, format!(">= {:.1} pods/s (10x podman here)", 10.0 * measured)),
        None => (
            10.0 * REFERENCE_PODMAN_RATE,
            format!(">= {:.0} pods/s (10x podman's {REFERENCE_PODMAN_RATE})", 10.0 * REFERENCE_PODMAN_RATE),
        ),
    };
    lines.push([
        format!("{} pods created at once until all Running (podman: in sequence)", plan.args.burst),
        cell(burst(ours).map(rate)),
        cell(burst(theirs).map(rate)),
        "-".into(),
        cell(ratio(burst(ours).map(|b| b.per_second()), podman_rate)),
        goal_text,
        cell(burst(ours).map(|b| verdict(b.per_second() >= goal_rate))),
    ]);

    let overhead = |figures: Option<&Figures>| figures.and_then(|f| f.overhead_kib_per_pod);
    let kib = |value: f64| format!("{:.2} MiB", value / 1024.0);
    lines.push([
        "memory per running pod beyond its containers (Pss)".into(),
        cell(overhead(ours).map(kib)),
        cell(overhead(theirs).map(kib)),
        "-".into(),
        cell(ratio(overhead(theirs), overhead(ours))),
        "< 1 MiB".into(),
        cell(overhead(ours).map(|value| verdict(value < OVERHEAD_GOAL_KIB))),
    ]);

    let delete = |figures: Option<&Figures>| figures.and_then(|f| f.delete);
    lines.push([
        format!("delete {} pods until nothing is left", plan.args.burst),
        cell(delete(ours).map(stats::duration)),
        cell(delete(theirs).map(stats::duration)),
        "-".into(),
        cell(ratio(delete(theirs).map(secs), delete(ours).map(secs))),
        "-".into(),
        String::new(),
    ]);
    lines
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn verdict(met: bool) -> String {
    if met { "met".into() } else { "MISSED".into() }
}

fn cell(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".into())
}

/// `numerator / denominator` as `3.2x`, when both exist and the denominator is not zero.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<String> {
    let (numerator, denominator) = (numerator?, denominator?);
    (denominator > 0.0).then(|| format!("{:.1}x", numerator / denominator))
}

/// Renders the lines as an aligned plain-text table under [`HEADER`].
fn render(lines: &[Line]) -> String {
    let mut widths = HEADER.map(|h| h.chars().count());
    for line in lines {
        for (width, text) in widths.iter_mut().zip(line) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |line: &[String]| {
        let padded: Vec<String> = line.iter().zip(widths).map(|(text, width)| format!("{text:<width$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    push(&HEADER.map(String::from));
    push(&widths.map(|w| "-".repeat(w)));
    for line in lines {
        push(line);
    }
    out
}

fn is_root() -> bool {
    // `Uid:` lists real, effective, saved and filesystem uids: the effective one decides.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status.lines().any(|line| {
            line.strip_prefix("Uid:").and_then(|rest| rest.split_whitespace().nth(1)).is_some_and(|uid| uid == "0")
        })
    })
}

/// One process as `/proc` shows it.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// `R`, `S`, `Z`, ...: zombies hold no memory and are skipped by the memory sums.
    pub state: char,
    pub comm: String,
    pub cmdline: Vec<String>,
}

impl Process {
    /// The `/proc/PID/ns/pid` link (`pid:[4026531836]`), which tells a container's processes
    /// (their own PID namespace) from the runtime's (the host's).
    pub fn pid_namespace(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/ns/pid", self.pid)).ok()
    }
}

/// Every process readable now. Processes that exit while being read are left out.
pub fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (comm, state, ppid) = parse_stat(&stat)?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = raw
                .split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            Some(Process { pid, ppid, state, comm, cmdline })
        })
        .collect()
}

/// `(comm, state, ppid)` from a `/proc/PID/stat` line. The command name may itself hold
/// spaces and parentheses, so the fields after it are found from the last `)`.
fn parse_stat(stat: &str) -> Option<(String, char, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

/// Proportional set size of a process in KiB (`Pss:` of `/proc/PID/smaps_rollup`): its private
/// pages plus its share of pages mapped by several processes (the shims' common binary is
/// split between them), so summing it over processes does not count shared pages twice.
pub fn pss_kib(pid: u32) -> Option<u64> {
    smaps_kib(pid, "Pss")
}

/// One `FIELD:  N kB` line of `/proc/PID/smaps_rollup` (`Pss`, `Pss_Anon`, `Pss_File`), in KiB.
pub fn smaps_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_field(&text, field)
}

fn parse_field(smaps_rollup: &str, field: &str) -> Option<u64> {
    smaps_rollup
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The processes under `root` (itself included) that share its PID namespace: the runtime's
/// own helpers (a shim, conmon, a lingering `crun`), not the containers, which run in PID
/// namespaces of their own.
pub fn same_namespace_tree(root: &Process, all: &[Process]) -> Vec<Process> {
    let mut children: HashMap<u32, Vec<&Process>> = HashMap::new();
    for process in all {
        children.entry(process.ppid).or_default().push(process);
    }
    let namespace = root.pid_namespace();
    let mut found = vec![root.clone()];
    let mut stack = vec![root.pid];
    while let Some(pid) = stack.pop() {
        for child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            if child.pid_namespace() == namespace {
                found.push((*child).clone());
                stack.push(child.pid);
            }
        }
    }
    found
}

/// Sum of the Pss of live (non-zombie) processes, in KiB.
pub fn pss_sum(processes: &[Process]) -> u64 {
    field_sum(processes, "Pss")
}

/// Sum of one smaps_rollup field over live (non-zombie) processes, in KiB.
pub fn field_sum(processes: &[Process], field: &str) -> u64 {
    processes.iter().filter(|p| p.state != 'Z').filter_map(|p| smaps_kib(p.pid, field)).sum()
}

/// Runs a command to completion and returns its stdout, or an error carrying its stderr.
pub async fn command_output(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::new(program);
    command.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().await.map_err(|error| anyhow::anyhow!("run {program}: {error}"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim().chars().take(600).collect::<String>()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Summary {
        let mut samples: Vec<Duration> = values.iter().map(|v| Duration::from_millis(*v)).collect();
        Summary::of(&mut samples).expect("samples")
    }

    fn plan() -> Plan {
        let args = PodsArgs {
            install_podman: false,
            sequential: 50,
            burst: 100,
            floor_runs: 50,
            pod_cidr: "10.77.0.0/24".into(),
            bridge_name: "ppbench0".into(),
            repo: None,
            wait_seconds: 300,
            skip_podman: false,
        };
        Plan { args, clients: 8, repo: PathBuf::from("."), wait: Duration::from_secs(1) }
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0";
        assert_eq!(parse_stat(stat), Some(("my (odd) name".into(), 'S', 17)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) Z notanumber"), None);
    }

    #[test]
    fn pss_is_read_in_kib_and_missing_lines_are_none() {
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 2396 kB\nPss_Anon: 400 kB\nPss:  616 kB\n";
        assert_eq!(parse_field(rollup, "Pss"), Some(616), "Pss_Anon must not be taken for Pss");
        assert_eq!(parse_field(rollup, "Pss_Anon"), Some(400));
        assert_eq!(parse_field("Rss: 1 kB\n", "Pss"), None);
        // This very process has a Pss.
        assert!(pss_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn this_process_is_found_with_its_parent_and_namespace_tree() {
        let all = processes();
        let me = all.iter().find(|p| p.pid == std::process::id()).expect("this process");
        assert!(me.ppid > 0);
        assert!(!me.cmdline.is_empty());
        let tree = same_namespace_tree(me, &all);
        assert_eq!(tree[0].pid, me.pid);
    }

    #[test]
    fn ratios_and_verdicts_follow_the_goals() {
        let mut ours = Figures {
            startup: Some(ms(&[40, 50, 60])),
            burst: Some(Burst { pods: 100, elapsed: Duration::from_secs(2) }),
            overhead_kib_per_pod: Some(512.0),
            delete: Some(Duration::from_secs(1)),
            notes: Vec::new(),
        };
        let theirs = Figures {
            startup: Some(ms(&[450, 500])),
            burst: Some(Burst { pods: 100, elapsed: Duration::from_secs(50) }),
            overhead_kib_per_pod: Some(2048.0),
            delete: Some(Duration::from_secs(4)),
            notes: Vec::new(),
        };
        let floor = Outcome::Measured(Figures { startup: Some(ms(&[20])), ..Figures::default() });
        let lines = rows(&plan(), &Outcome::Measured(ours), &Outcome::Measured(theirs), &floor);
        // p50 50 ms against 450 ms: 9x, goal met; floor shown.
        assert_eq!(lines[0][1], "50.0 ms");
        assert_eq!(lines[0][3], "20.0 ms");
        assert_eq!((lines[0][4].as_str(), lines[0][6].as_str()), ("9.0x", "met"));
        // 50 pods/s against 2 pods/s: 25x; the goal is 10x the measured podman rate.
        assert_eq!(lines[2][4], "25.0x");
        assert!(lines[2][5].starts_with(">= 20.0 pods/s"), "{}", lines[2][5]);
        assert_eq!(lines[2][6], "met");
        assert_eq!((lines[3][1].as_str(), lines[3][4].as_str(), lines[3][6].as_str()), ("0.50 MiB", "4.0x", "met"));
        assert_eq!(lines[4][4], "4.0x");

        ours = Figures {
            startup: Some(ms(&[150])),
            burst: Some(Burst { pods: 100, elapsed: Duration::from_secs(10) }),
            overhead_kib_per_pod: Some(2048.0),
            ..Figures::default()
        };
        let lines = rows(&plan(), &Outcome::Measured(ours), &Outcome::Skipped("absent".into()), &floor);
        assert_eq!(lines[0][6], "MISSED");
        assert_eq!(lines[0][2], "-");
        assert_eq!(lines[0][4], "-");
        // Without podman the goal is 10x the reference 1.8 pods/s.
        assert!(lines[2][5].starts_with(">= 18 pods/s"), "{}", lines[2][5]);
        assert_eq!(lines[2][6], "MISSED");
        assert_eq!(lines[3][6], "MISSED");
        assert_eq!(lines[4][1], "-");
    }

    #[test]
    fn a_failed_side_leaves_dashes_and_the_table_stays_aligned() {
        let failed = Outcome::Failed("boom".into());
        let lines = rows(&plan(), &failed, &failed, &failed);
        assert!(lines.iter().all(|line| line[1] == "-" && line[2] == "-"));
        let text = render(&lines);
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all.len(), 2 + lines.len());
        let column = all[0].find("podman").expect("header");
        assert!(all[2..].iter().all(|line| line.get(column..column + 1) == Some("-")), "{text}");
    }

    #[test]
    fn ratio_needs_both_figures_and_a_non_zero_denominator() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some("1.5x".into()));
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
    }
}
