//! `--junit FILE` against the real sshd fleet: one testcase per host and package, the
//! failure's reason and exit code, the output tail, skips; valid against junit-10.xsd
//! (Jenkins xUnit plugin's schema, fetched by tests/junit/setup.sh); a path that cannot
//! be written stops the run before any host is touched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fleet, closed_port};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit")
}

/// Validates `file` against junit-10.xsd; the validator's complaint on failure.
fn validate(file: &Path) -> Result<(), String> {
    let dir = schema_dir();
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists() && dir.join("junit-10.xsd").exists(),
        "run tests/junit/setup.sh first (tests/run.sh does)"
    );
    let out = Command::new(python)
        .arg("-c")
        .arg("import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])")
        .arg(dir.join("junit-10.xsd"))
        .arg(file)
        .output()
        .expect("run the validator");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn inventory(fleet: &Fleet, hosts: &str) -> String {
    let package = "linux = { file = \"install.sh\" }\nmax_attempts = 1";
    fleet.agent_inventory("", package, &format!("[{hosts}]"), r#"["plain"]"#)
}

#[test]
fn every_host_is_a_testcase_with_its_reason_exit_code_and_output_and_the_file_is_valid() {
    let fleet = Fleet::start(2);
    // Output with markup, a colour escape and a byte XML cannot carry.
    fleet.installer(
        "install.sh",
        "printf 'unpacking <agent> & co\\n\\033[31mred\\033[0m \\001\\n'\n[ \"$PUSHINST_FIXTURE_HOST\" = host1 ] || exit 3",
    );
    let closed = closed_port();
    let hosts = format!(
        "\"{}\", \"{}\", \"127.0.0.1:{closed}\"",
        fleet.endpoints[0], fleet.endpoints[1]
    );
    fleet.write("pushinst.toml", &inventory(&fleet, &hosts));
    let report = fleet.path("results/junit.xml");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    let path = report.to_str().unwrap();
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--junit", path]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let xml = std::fs::read_to_string(&report).expect("the report");
    validate(&report).unwrap_or_else(|e| panic!("{e}\n{xml}"));

    assert!(
        xml.contains("tests=\"3\" failures=\"2\" errors=\"0\" skipped=\"0\""),
        "{xml}"
    );
    let case = |host: &str| -> String {
        let at = xml
            .find(&format!("name=\"{host}\""))
            .unwrap_or_else(|| panic!("no testcase for {host}:\n{xml}"));
        let end = at + xml[at..].find("</testcase>").expect("closed");
        xml[at..end].to_string()
    };
    let ok = case(&fleet.endpoints[0]);
    assert!(!ok.contains("<failure"), "{ok}");
    assert!(
        ok.contains(
            "<system-out>unpacking &lt;agent&gt; &amp; co\n\u{FFFD}[31mred\u{FFFD}[0m \u{FFFD}\n</system-out>"
        ),
        "{ok}"
    );
    let failed = case(&fleet.endpoints[1]);
    assert!(
        failed.contains(
            "<failure type=\"failed\" message=\"installer exited with code 3\">installer exited with code 3\nexit code: 3</failure>"
        ),
        "{failed}"
    );
    assert!(
        xml.contains(&format!("classname=\"agent\" name=\"{}\"", fleet.endpoints[1])),
        "{xml}"
    );
    let dead = case(&format!("127.0.0.1:{closed}"));
    assert!(dead.contains("<failure type=\"unreachable\""), "{dead}");
    assert!(dead.contains("connection refused"), "{dead}");

    // The next run skips the host whose only attempt failed: a skip, not a failure.
    let again = fleet.run(&["deploy", "agent", "--to", "fleet", "--junit", path]);
    assert_eq!(again.code(), 1, "{}", again.debug());
    let xml = std::fs::read_to_string(&report).expect("the report");
    validate(&report).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<skipped message=\"attempt-limit (1/1)"), "{xml}");
}

#[test]
fn a_report_path_that_cannot_be_written_stops_the_run_before_any_host() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let hosts = format!("\"{}\"", fleet.endpoints[0]);
    fleet.write("pushinst.toml", &inventory(&fleet, &hosts));
    let missing = fleet.path("no/such/dir/junit.xml");
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--junit",
        missing.to_str().unwrap(),
    ]);
    assert_ne!(run.code(), 0, "{}", run.debug());
    assert_ne!(run.code(), 1, "a setup error, not host failures: {}", run.debug());
    assert!(
        run.stderr().contains("cannot create the JUnit report"),
        "{}",
        run.debug()
    );
    assert!(fleet.timeline().is_empty(), "no host was touched");
}

#[test]
fn the_validator_rejects_what_the_schema_does_not_allow() {
    // Proves the schema check can fail: a testcase without its required name.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites><testsuite name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase time=\"1\"/></testsuite></testsuites>",
    )
    .unwrap();
    assert!(validate(&bad).is_err());
}
