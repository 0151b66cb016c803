//! Integration tests of `BridgeNetwork` with real namespaces, veths and a bridge (run as root).
//! Every test has its own bridge `ppt<short>`, its own 10.201.N.0 range and temp directories,
//! and a `Fixture` drop guard that removes all of it, even when the test fails.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agent::network::{Network, NetworkError, PodNetworkConfig, PodNetworkStatus};
use common::{Fixture, eventually, fetch, host_link_exists, serve_once};
use net::{BridgeNetwork, NetConfig, host_veth_name};

fn pod(uid: &str) -> PodNetworkConfig {
    PodNetworkConfig { pod_uid: uid.to_string(), namespace: "default".to_string(), name: format!("pod-{uid}") }
}

async fn setup(network: &BridgeNetwork, uid: &str) -> PodNetworkStatus {
    network.setup(&pod(uid)).await.unwrap_or_else(|e| panic!("setup {uid}: {e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

#[tokio::test]
async fn two_pods_get_distinct_ips_and_reach_host_gateway_and_each_other() {
    let fx = Fixture::new("conn", 1, 24, false);
    let network = fx.network().await;
    assert_eq!(network.pod_cidr(), "10.201.1.0/24");
    let a = setup(&network, "conn-a").await;
    let b = setup(&network, "conn-b").await;
    assert_eq!(a.ip, ip("10.201.1.2"));
    assert_eq!(b.ip, ip("10.201.1.3"));
    assert_eq!(a.netns_path, fx.netns_dir().join("conn-a"));

    // The host ends sit on the bridge.
    for uid in ["conn-a", "conn-b"] {
        let master = std::fs::read_link(format!("/sys/class/net/{}/master", host_veth_name(uid))).expect("master");
        assert_eq!(master.file_name().and_then(|n| n.to_str()), Some(fx.bridge.as_str()));
    }

    // Host -> pod A.
    let (addr, server) = serve_once(Some(&a.netns_path), a.ip, "from a");
    assert_eq!(fetch(None, addr).expect("host -> pod a"), "from a");
    server.join().expect("server");

    // Pod B -> pod A.
    let (addr, server) = serve_once(Some(&a.netns_path), a.ip, "a to b");
    assert_eq!(fetch(Some(&b.netns_path), addr).expect("pod b -> pod a"), "a to b");
    server.join().expect("server");

    // Pod A -> gateway (a listener on the host bound to the bridge address).
    let (addr, server) = serve_once(None, network.gateway(), "gateway");
    assert_eq!(fetch(Some(&a.netns_path), addr).expect("pod a -> gateway"), "gateway");
    server.join().expect("server");

    // Loopback is up inside the pod.
    let (addr, server) = serve_once(Some(&a.netns_path), IpAddr::V4(Ipv4Addr::LOCALHOST), "lo");
    assert_eq!(fetch(Some(&a.netns_path), addr).expect("pod a -> its lo"), "lo");
    server.join().expect("server");

    // The default route goes via the gateway on eth0 (`/proc/thread-self/net` shows the
    // namespace of the reading thread).
    let routes = common::in_netns(&a.netns_path, || std::fs::read_to_string("/proc/thread-self/net/route"));
    let IpAddr::V4(gateway) = network.gateway() else { panic!("IPv4 gateway") };
    let default_route = format!("eth0\t00000000\t{:08X}\t", u32::from_le_bytes(gateway.octets()));
    assert!(routes.expect("routes").lines().any(|line| line.starts_with(&default_route)), "no {default_route:?}");

    for uid in ["conn-a", "conn-b"] {
        network.teardown(uid).await.expect("teardown");
    }
    network.remove_bridge().await.expect("remove bridge");
    assert!(!host_link_exists(&fx.bridge));
}

#[tokio::test]
async fn teardown_leaves_no_netns_veth_or_ip_and_absent_is_fine() {
    let fx = Fixture::new("tdn", 2, 24, false);
    let network = fx.network().await;
    let status = setup(&network, "tdn-a").await;
    let veth = host_veth_name("tdn-a");
    assert!(host_link_exists(&veth));
    assert!(status.netns_path.exists());
    assert!(fx.state_dir().join("10.201.2.2").exists());
    assert_eq!(network.list().await.expect("list"), vec!["tdn-a".to_string()]);

    network.teardown("tdn-a").await.expect("teardown");
    assert!(!status.netns_path.exists(), "netns file removed");
    assert!(!fx.state_dir().join("10.201.2.2").exists(), "IP record removed");
    assert!(eventually(|| !host_link_exists(&veth)), "veth {veth} still exists");
    assert!(network.list().await.expect("list").is_empty());

    // Absent is fine, twice.
    network.teardown("tdn-a").await.expect("teardown again");
    network.teardown("never-set-up").await.expect("teardown of unknown pod");
    // The freed address is handed out again.
    assert_eq!(setup(&network, "tdn-b").await.ip, ip("10.201.2.2"));
    network.teardown("tdn-b").await.expect("teardown");
}

#[tokio::test]
async fn setup_is_idempotent() {
    let fx = Fixture::new("idem", 3, 24, false);
    let network = fx.network().await;
    let first = setup(&network, "idem-a").await;
    let second = setup(&network, "idem-a").await;
    assert_eq!(first, second);
    assert_eq!(network.list().await.expect("list"), vec!["idem-a".to_string()]);
    let records = std::fs::read_dir(fx.state_dir()).expect("state dir").count();
    assert_eq!(records, 1, "one IP record");
    // Still reachable after the second (converging) run.
    let (addr, server) = serve_once(Some(&first.netns_path), first.ip, "still here");
    assert_eq!(fetch(None, addr).expect("host -> pod"), "still here");
    server.join().expect("server");
    network.teardown("idem-a").await.expect("teardown");
}

#[tokio::test]
async fn setup_repairs_a_namespace_without_its_veth() {
    let fx = Fixture::new("fix", 4, 24, false);
    let network = fx.network().await;
    let first = setup(&network, "fix-a").await;
    // Simulate an interrupted setup: the pair is gone but namespace and IP remain.
    let out = Command::new("ip").args(["link", "del", &host_veth_name("fix-a")]).output().expect("ip");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = setup(&network, "fix-a").await;
    assert_eq!(again, first);
    let (addr, server) = serve_once(Some(&again.netns_path), again.ip, "repaired");
    assert_eq!(fetch(None, addr).expect("host -> pod"), "repaired");
    server.join().expect("server");
    network.teardown("fix-a").await.expect("teardown");
}

#[tokio::test]
async fn a_new_instance_on_the_same_dirs_keeps_allocations() {
    let fx = Fixture::new("rst", 5, 24, false);
    let (a, b) = {
        let network = fx.network().await;
        (setup(&network, "rst-a").await, setup(&network, "rst-b").await)
    };
    let network = fx.network().await;
    assert_eq!(network.list().await.expect("list"), vec!["rst-a".to_string(), "rst-b".to_string()]);
    assert_eq!(setup(&network, "rst-b").await, b);
    assert_eq!(setup(&network, "rst-c").await.ip, ip("10.201.5.4"));
    // The first instance's pods still work.
    let (addr, server) = serve_once(Some(&a.netns_path), a.ip, "survived");
    assert_eq!(fetch(None, addr).expect("host -> pod"), "survived");
    server.join().expect("server");
    for uid in ["rst-a", "rst-b", "rst-c"] {
        network.teardown(uid).await.expect("teardown");
    }
}

#[tokio::test]
async fn a_full_slash_29_is_exhausted() {
    let fx = Fixture::new("exh", 6, 29, false);
    let network = fx.network().await;
    assert_eq!(network.pod_cidr(), "10.201.6.8/29");
    let mut ips = Vec::new();
    for i in 0..5 {
        ips.push(setup(&network, &format!("exh-{i}")).await.ip);
    }
    assert_eq!(ips, ["10.201.6.10", "10.201.6.11", "10.201.6.12", "10.201.6.13", "10.201.6.14"].map(ip));
    match network.setup(&pod("exh-5")).await {
        Err(NetworkError::Exhausted(range)) => assert_eq!(range, "10.201.6.8/29"),
        other => panic!("expected Exhausted, got {other:?}"),
    }
    // The failed pod left nothing behind.
    assert!(!fx.netns_dir().join("exh-5").exists());
    assert!(!network.list().await.expect("list").contains(&"exh-5".to_string()));
    // Freeing one makes room again.
    network.teardown("exh-2").await.expect("teardown");
    assert_eq!(setup(&network, "exh-5").await.ip, ip("10.201.6.12"));
    for i in [0, 1, 3, 4, 5] {
        network.teardown(&format!("exh-{i}")).await.expect("teardown");
    }
}

#[tokio::test]
async fn bad_input_is_an_error_not_a_panic() {
    let fx = Fixture::new("bad", 7, 24, false);
    let network = fx.network().await;
    for uid in ["", "../escape", "a/b", ".hidden"] {
        assert!(matches!(network.setup(&pod(uid)).await, Err(NetworkError::Other(_))), "{uid:?}");
        assert!(network.teardown(uid).await.is_err(), "{uid:?}");
    }
    assert!(network.list().await.expect("list").is_empty());

    let mut config = fx.config.clone();
    config.pod_cidr = "10.201.7.0/33".to_string();
    assert!(BridgeNetwork::new(config).await.is_err());
    let mut config = fx.config.clone();
    config.bridge_name = "a-name-longer-than-15".to_string();
    assert!(BridgeNetwork::new(config).await.is_err());
    // An existing link that is not a bridge is refused.
    let mut config: NetConfig = fx.config.clone();
    config.bridge_name = "lo".to_string();
    assert!(matches!(BridgeNetwork::new(config).await, Err(net::NetError::NotABridge(_))));
}

#[tokio::test]
async fn masquerade_rule_is_added_once_and_removed_with_the_bridge() {
    let fx = Fixture::new("msq", 8, 24, true);
    let check = || {
        Command::new("iptables")
            .args(["-w", "-t", "nat", "-C", "POSTROUTING", "-s", &fx.cidr, "!", "-o", &fx.bridge, "-j", "MASQUERADE"])
            .output()
            .expect("iptables")
            .status
            .success()
    };
    let count = || {
        let out = Command::new("iptables").args(["-w", "-t", "nat", "-S", "POSTROUTING"]).output().expect("iptables");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&fx.cidr) && l.contains(&fx.bridge)).count()
    };
    let network = fx.network().await;
    assert!(check(), "MASQUERADE rule present");
    // A second start adds nothing.
    let again = fx.network().await;
    assert_eq!(count(), 1);
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("sysctl").trim(), "1");
    again.remove_bridge().await.expect("remove bridge");
    assert!(!check(), "MASQUERADE rule removed");
    assert!(!host_link_exists(&fx.bridge));
    // Removing twice is fine.
    network.remove_bridge().await.expect("remove bridge again");
}

/// Setup and teardown time per pod; run with `--nocapture` to see the figures.
#[tokio::test]
async fn setup_and_teardown_timing() {
    const PODS: usize = 20;
    let fx = Fixture::new("tim", 9, 24, false);
    let started = Instant::now();
    let network = fx.network().await;
    let init = started.elapsed();
    let mut setups = Vec::new();
    for i in 0..PODS {
        let started = Instant::now();
        setup(&network, &format!("tim-{i}")).await;
        setups.push(started.elapsed());
    }
    let started = Instant::now();
    setup(&network, "tim-0").await;
    let repeat = started.elapsed();
    let mut teardowns = Vec::new();
    for i in 0..PODS {
        let started = Instant::now();
        network.teardown(&format!("tim-{i}")).await.expect("teardown");
        teardowns.push(started.elapsed());
    }
    let summary = |label: &str, times: &mut Vec<Duration>| {
        times.sort();
        let total: Duration = times.iter().sum();
        println!(
            "{label}: {PODS} pods, mean {:?}, median {:?}, min {:?}, max {:?}",
            total / PODS as u32,
            times[PODS / 2],
            times[0],
            times[PODS - 1]
        );
        times[PODS / 2]
    };
    println!("BridgeNetwork::new (bridge, sysctl, iptables check): {init:?}");
    let setup_median = summary("setup", &mut setups);
    println!("repeated setup of an existing pod: {repeat:?}");
    let teardown_median = summary("teardown", &mut teardowns);
    // Generous bounds (debug build, shared 2-core machine): catch e.g. a fork per pod or a
    // wait on namespace destruction, not scheduling noise.
    assert!(setup_median < Duration::from_millis(250), "setup median {setup_median:?}");
    assert!(teardown_median < Duration::from_millis(250), "teardown median {teardown_median:?}");
    assert!(eventually(|| (0..PODS).all(|i| !host_link_exists(&host_veth_name(&format!("tim-{i}"))))));
    assert!(Path::new(&fx.netns_dir()).read_dir().expect("netns dir").next().is_none());
}

/// With the FORWARD policy at DROP (as Docker leaves it), new() adds ACCEPT rules for the
/// bridge so that bridged pod-to-pod traffic (which br_netfilter sends through FORWARD) passes;
/// remove_bridge() takes them away. Runs entirely inside a private network namespace, so the
/// host's iptables policy is never touched.
#[test]
fn forward_drop_policy_gets_accept_rules_for_the_bridge() {
    let fx = Fixture::new("fwd", 10, 24, true);
    let config = fx.config.clone();
    let bridge = fx.bridge.clone();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let iptables =
            |args: &[&str]| Command::new("iptables").arg("-w").args(args).output().expect("iptables").status.success();
        assert!(iptables(&["-P", "FORWARD", "DROP"]));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let network = BridgeNetwork::new(config).await.expect("new");
            for dir in ["-i", "-o"] {
                assert!(iptables(&["-C", "FORWARD", dir, &bridge, "-j", "ACCEPT"]), "FORWARD {dir} rule");
            }
            let a = setup(&network, "fwd-a").await;
            let b = setup(&network, "fwd-b").await;
            let (addr, server) = serve_once(Some(&a.netns_path), a.ip, "through FORWARD");
            assert_eq!(fetch(Some(&b.netns_path), addr).expect("pod b -> pod a"), "through FORWARD");
            server.join().expect("server");
            network.teardown("fwd-a").await.expect("teardown");
            network.teardown("fwd-b").await.expect("teardown");
            network.remove_bridge().await.expect("remove bridge");
            for dir in ["-i", "-o"] {
                assert!(!iptables(&["-C", "FORWARD", dir, &bridge, "-j", "ACCEPT"]), "FORWARD {dir} rule left");
            }
        });
    })
    .join()
    .expect("test thread");
}

#[tokio::test]
async fn pods_of_another_network_sharing_the_netns_dir_are_not_listed() {
    // Two agents on one host share `/run/peapod/netns`; an agent's orphan cleanup tears down
    // whatever `list` returns, so it must never return the other agent's pods.
    let a = Fixture::new("shra", 11, 24, false);
    let b = Fixture::new("shrb", 12, 24, false);
    let network_a = a.network().await;
    let status = setup(&network_a, "shr-a").await;
    let network_b = BridgeNetwork::new(NetConfig { netns_dir: a.netns_dir(), ..b.config.clone() })
        .await
        .expect("BridgeNetwork::new");
    assert!(network_b.list().await.expect("list").is_empty());
    assert_eq!(network_a.list().await.expect("list"), vec!["shr-a".to_string()]);
    assert!(status.netns_path.exists());
}

#[tokio::test]
async fn the_host_reaches_a_pod_that_reuses_a_freed_ip_at_once() {
    let fx = Fixture::new("reuse", 13, 24, false);
    let network = fx.network().await;
    // A pod that keeps the bridge up (with no port left the kernel flushes its ARP entries).
    setup(&network, "reuse-keep").await;
    let first = setup(&network, "reuse-a").await;
    let (addr, server) = serve_once(Some(&first.netns_path), first.ip, "first");
    assert_eq!(fetch(None, addr).expect("host -> first pod"), "first");
    server.join().expect("server");
    network.teardown("reuse-a").await.expect("teardown");
    let second = setup(&network, "reuse-b").await;
    assert_eq!(second.ip, first.ip, "the lowest free address is reused");
    // Without forgetting the first pod's MAC the host keeps sending to it for up to 45 s.
    let (addr, server) = serve_once(Some(&second.netns_path), second.ip, "second");
    assert_eq!(fetch(None, addr).expect("host -> second pod"), "second");
    server.join().expect("server");
}
