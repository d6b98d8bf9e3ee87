//! Rollout control against the real sshd fleet: `--canary`, `--batch` and
//! `--max-failures` decide which hosts are touched at all, as the installer's own
//! timeline on the hosts shows.

mod common;

use common::Fleet;

fn inventory(fleet: &Fleet) -> String {
    let package = r#"linux = { file = "install.sh" }"#;
    fleet.agent_inventory("", package, &fleet.hosts_list(), r#"["plain"]"#)
}

#[test]
fn a_threshold_of_two_starts_no_host_after_the_second_failure() {
    let fleet = Fleet::start(5);
    fleet.recording_installer("0", "exit 1");
    fleet.write("pushinst.toml", &inventory(&fleet));
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "1",
        "--max-failures",
        "2",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert_eq!(fleet.timeline().len(), 2, "{:?}", fleet.timeline());
    for (n, endpoint) in fleet.endpoints.iter().enumerate() {
        let outcome = run.outcome(endpoint);
        if n < 2 {
            assert_eq!(outcome["reason"], "installer exited with code 1", "{outcome}");
        } else {
            assert_eq!(
                outcome["reason"],
                "not started: failure threshold reached (2 hosts failed, --max-failures 2)",
                "{outcome}"
            );
        }
    }
}

#[test]
fn a_failing_canary_holds_back_the_rest_and_a_good_one_lets_them_go() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("0", "[ -e \"$PUSHINST_FIXTURE_DIR/fail\" ] && exit 1");
    std::fs::write(fleet.host_root(1).join("fail"), "").expect("mark host1");
    fleet.write("pushinst.toml", &inventory(&fleet));
    let plan = fleet.run(&["deploy", "agent", "--to", "fleet", "--canary", "1", "--dry-run"]);
    assert_eq!(plan.code(), 0, "{}", plan.debug());
    assert!(
        plan.stdout()
            .contains("rollout: 1 canary host(s) first, the rest only if every one succeeds"),
        "{}",
        plan.stdout()
    );

    let run = fleet.run(&[
        "deploy", "agent", "--to", "fleet", "--canary", "1", "--output", "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let runs = fleet.timeline();
    assert_eq!(runs.len(), 1, "only the canary ran: {runs:?}");
    // The canary wave is announced before any host starts.
    let events = run.events();
    let first_wave = events.iter().position(|e| e["type"] == "wave_started");
    let first_host = events.iter().position(|e| e["type"] == "host_started");
    assert!(first_wave.is_some() && first_wave < first_host, "{}", run.debug());
    let wave = &events[first_wave.unwrap_or_default()]["data"];
    assert_eq!(
        (&wave["canary"], &wave["hosts"], &wave["after"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(1),
            &serde_json::json!(2)
        ),
        "{wave}"
    );
    for endpoint in &fleet.endpoints[1..] {
        assert_eq!(
            run.outcome(endpoint)["reason"],
            "not started: 1 of 1 canary host(s) did not succeed; fix them, then run again"
        );
    }

    // Fixed: the canary succeeds and the rest follow.
    std::fs::remove_file(fleet.host_root(1).join("fail")).expect("unmark host1");
    let run = fleet.run(&[
        "deploy", "agent", "--to", "fleet", "--canary", "1", "--output", "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(fleet.timeline().len(), 4);
}

#[test]
fn batches_never_overlap() {
    let fleet = Fleet::start(6);
    fleet.recording_installer("0.3", "");
    fleet.write("pushinst.toml", &inventory(&fleet));
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "6",
        "--batch",
        "34%",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    // Each wave is announced, the second after the first one's last result.
    let out = run.stdout();
    let at = |text: &str| out.find(text).unwrap_or_else(|| panic!("no {text:?} in {out}"));
    let last_of_first = ["host1", "host2", "host3"]
        .iter()
        .map(|h| {
            let label = &fleet.endpoints[h[4..].parse::<usize>().unwrap() - 1];
            out.rfind(&format!("{label}: ok"))
                .unwrap_or_else(|| panic!("{label} in {out}"))
        })
        .max()
        .unwrap();
    assert!(at("wave 1/2: 3 host(s)") < at("wave 2/2: 3 host(s)"), "{out}");
    assert!(last_of_first < at("wave 2/2: 3 host(s)"), "{out}");
    let runs = fleet.timeline();
    assert_eq!(runs.len(), 6, "{runs:?}");
    // 34% of 6 is 3 (rounded up): hosts 1-3, then 4-6, in inventory order.
    let wave = |hosts: &[&str]| -> (f64, f64) {
        let these: Vec<_> = runs.iter().filter(|r| hosts.contains(&r.0.as_str())).collect();
        assert_eq!(these.len(), hosts.len(), "{runs:?}");
        let start = these.iter().map(|r| r.1).fold(f64::MAX, f64::min);
        let end = these.iter().map(|r| r.2.expect("finished")).fold(0.0, f64::max);
        (start, end)
    };
    let (first_start, first_end) = wave(&["host1", "host2", "host3"]);
    let (second_start, _) = wave(&["host4", "host5", "host6"]);
    assert!(first_end <= second_start, "{runs:?}");
    // And within a wave the hosts ran side by side.
    assert!(first_end - first_start < 0.9, "{runs:?}");
}
