//! Acceptance: `kubectl get -w` for kubectl 1.33, 1.32 and 1.27: the initial table, then one
//! row per change (create, modify, delete), with no replay of existing objects.

use std::time::Duration;

use testkit::{Kubectl, Table, shared};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn get_watch_prints_a_row_per_change() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("watch{}", version.minor()));
        let k = |args: &[&str]| {
            let mut full = vec!["-n", ns.as_str()];
            full.extend_from_slice(args);
            server.kubectl_as(version, &full)
        };
        k(&["run", "existing", "--image=nginx"]).assert_success();
        // Let the scheduler record its verdict (PodScheduled=False: no node) first, so that
        // the watch below sees no change of this pod.
        testkit::eventually(Duration::from_secs(5), || {
            k(&["get", "pod", "existing", "-o", "jsonpath={.status.conditions[*].type}"])
                .stdout
                .contains("PodScheduled")
        });
        let mut watch = server.kubectl_background(version, &["-n", &ns, "get", "pods", "-w"]);
        let header = watch.wait_for_line(WAIT, |_| true);
        assert_eq!(
            Table::parse(&header).headers,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{version}: {header}"
        );
        let first = watch.wait_for_line(WAIT, |_| true);
        assert!(first.starts_with("existing "), "{version}: {first}");

        k(&["run", "w1", "--image=nginx"]).assert_success();
        let added = watch.wait_for_line(WAIT, |line| line.starts_with("w1 "));
        let cells: Vec<&str> = added.split_whitespace().collect();
        assert_eq!(&cells[..4], ["w1", "0/1", "Pending", "0"], "{version}: {added}");
        k(&["label", "pod", "w1", "x=y"]).assert_success();
        // Unbound pods go at once: kubectl prints the DELETED event as a row too.
        k(&["delete", "pod", "w1", "--wait=false"]).assert_success();
        let rest = watch.drain_lines(Duration::from_millis(1500));

        // Added, labelled, deleted; the scheduler may add a status update (PodScheduled=False).
        let seen = watch.seen().to_vec();
        let rows: Vec<&String> = seen.iter().filter(|l| l.starts_with("w1 ")).collect();
        assert!((3..=4).contains(&rows.len()), "{version}: {seen:?}");
        assert!(rows.iter().all(|row| row.split_whitespace().count() == 5), "{version}: {seen:?}");
        // The existing pod is not replayed.
        assert!(rest.iter().all(|line| !line.starts_with("existing ")), "{version}: replayed: {seen:?}");
        drop(watch);

        // -o name with --output-watch-events
        let mut watch = server
            .kubectl_background(version, &["-n", &ns, "get", "pods", "-w", "--output-watch-events", "-o", "name"]);
        let line = watch.wait_for_line(WAIT, |_| true);
        // The initial list is printed by kubectl itself (with or without the event type,
        // depending on the version); the events after it come from the watch.
        assert!(line == "ADDED pod/existing" || line == "pod/existing", "{version}: {line}");
        k(&["delete", "pod", "existing", "--wait=false"]).assert_success();
        // The DELETED event (the name printer drops the event type).
        let line = watch.wait_for_line(WAIT, |line| line.ends_with("pod/existing"));
        assert!(line == "DELETED pod/existing" || line == "pod/existing", "{version}: {:?}", watch.seen());
    }
}

#[test]
fn get_watch_with_a_label_selector_and_all_namespaces() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("watchsel{}", version.minor()));
        let mut watch = server.kubectl_background(version, &["get", "pods", "-A", "-w", "-l", &format!("group={ns}")]);
        server.kubectl_as(version, &["-n", &ns, "run", "other", "--image=nginx"]).assert_success();
        server
            .kubectl_as(version, &["-n", &ns, "run", "mine", "--image=nginx", &format!("--labels=group={ns}")])
            .assert_success();
        let line = watch.wait_for_line(WAIT, |line| line.contains("mine"));
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[..3], [ns.as_str(), "mine", "0/1"], "{version}: {line}");
        assert!(watch.seen().iter().all(|l| !l.contains("other")), "{version}: {:?}", watch.seen());
    }
}
