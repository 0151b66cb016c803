//! The node's iptables rules for pod traffic, installed once at start-up (never per pod):
//! source NAT for pod traffic leaving through anything but the bridge, and, when the FORWARD
//! chain's policy is DROP (as Docker sets it), ACCEPT rules for traffic into and out of the
//! bridge. Forks `iptables` (the only fork in this crate); each rule is checked with `-C`
//! first so repeated starts add nothing.

use tokio::process::Command;

use crate::cidr::PodCidr;
use crate::error::NetError;

/// `-t nat -A POSTROUTING -s CIDR ! -o BRIDGE -j MASQUERADE`, without the `-A`.
fn masquerade_rule(cidr: &PodCidr, bridge: &str) -> Vec<String> {
    let cidr = cidr.to_string();
    ["-t", "nat", "POSTROUTING", "-s", &cidr, "!", "-o", bridge, "-j", "MASQUERADE"].map(String::from).to_vec()
}

/// FORWARD accepts for the bridge in both directions, without the `-I`.
fn forward_rules(bridge: &str) -> [Vec<String>; 2] {
    [
        ["-t", "filter", "FORWARD", "-i", bridge, "-j", "ACCEPT"].map(String::from).to_vec(),
        ["-t", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT"].map(String::from).to_vec(),
    ]
}

/// Adds the MASQUERADE rule if absent.
pub(crate) async fn ensure_masquerade(cidr: &PodCidr, bridge: &str) -> Result<(), NetError> {
    ensure_rule("-A", &masquerade_rule(cidr, bridge)).await
}

/// Adds the FORWARD accepts if the chain drops by default; otherwise nothing is needed.
pub(crate) async fn ensure_forward(bridge: &str) -> Result<(), NetError> {
    let listing = run(&["-w", "-t", "filter", "-S", "FORWARD"].map(String::from)).await?;
    if !listing.unwrap_or_default().lines().any(|line| line.trim() == "-P FORWARD DROP") {
        return Ok(());
    }
    for rule in forward_rules(bridge) {
        ensure_rule("-I", &rule).await?;
    }
    Ok(())
}

/// Removes every rule this module may have added for the bridge; absent ones are fine.
pub(crate) async fn remove_all(cidr: &PodCidr, bridge: &str) -> Result<(), NetError> {
    let [inbound, outbound] = forward_rules(bridge);
    for rule in [masquerade_rule(cidr, bridge), inbound, outbound] {
        // -D removes one copy; loop in case an older run added duplicates.
        while exists(&rule).await? {
            run(&with_op("-D", &rule)).await?.ok_or_else(|| iptables_error(&with_op("-D", &rule), "failed"))?;
        }
    }
    Ok(())
}

/// Whether `iptables` can be run at all (it is needed only for masquerade).
pub(crate) async fn available() -> bool {
    Command::new("iptables").arg("--version").output().await.is_ok_and(|out| out.status.success())
}

async fn ensure_rule(op: &str, rule: &[String]) -> Result<(), NetError> {
    if exists(rule).await? {
        return Ok(());
    }
    let args = with_op(op, rule);
    run(&args).await?.map(|_| ()).ok_or_else(|| iptables_error(&args, "failed"))
}

async fn exists(rule: &[String]) -> Result<bool, NetError> {
    Ok(run(&with_op("-C", rule)).await?.is_some())
}

/// `[-w, -t, TABLE, OP, CHAIN, rest...]` from a rule written as `[-t, TABLE, CHAIN, rest...]`.
fn with_op(op: &str, rule: &[String]) -> Vec<String> {
    let mut args = vec!["-w".to_string()];
    args.extend(rule.iter().take(2).cloned());
    args.push(op.to_string());
    args.extend(rule.iter().skip(2).cloned());
    args
}

/// Runs iptables; Ok(Some(stdout)) on success, Ok(None) on a non-zero exit (e.g. `-C` of a
/// missing rule), Err if it could not run.
async fn run(args: &[String]) -> Result<Option<String>, NetError> {
    let output =
        Command::new("iptables").args(args).output().await.map_err(|e| iptables_error(args, &e.to_string()))?;
    if output.status.success() {
        Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
    } else {
        tracing::debug!(?args, stderr = %String::from_utf8_lossy(&output.stderr).trim(), "iptables exited non-zero");
        Ok(None)
    }
}

fn iptables_error(args: &[String], reason: &str) -> NetError {
    NetError::Iptables { args: args.join(" "), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_iptables_argument_lists() {
        let cidr = PodCidr::parse("10.42.0.0/24").expect("cidr");
        assert_eq!(
            with_op("-C", &masquerade_rule(&cidr, "peapod0")).join(" "),
            "-w -t nat -C POSTROUTING -s 10.42.0.0/24 ! -o peapod0 -j MASQUERADE"
        );
        let [inbound, outbound] = forward_rules("peapod0");
        assert_eq!(with_op("-I", &inbound).join(" "), "-w -t filter -I FORWARD -i peapod0 -j ACCEPT");
        assert_eq!(with_op("-D", &outbound).join(" "), "-w -t filter -D FORWARD -o peapod0 -j ACCEPT");
    }
}
