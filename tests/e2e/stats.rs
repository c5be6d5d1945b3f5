//! `--stats`: the mirror's request counts by opcode and fusebox-run's own CPU time.

use crate::common::*;

/// The number after `"key":` in the stats JSON (flat keys are unique in it).
fn number(json: &str, key: &str) -> Option<f64> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    let end = rest.find([',', '}'])?;
    rest[..end].parse().ok()
}

e2e!(shared, stats_counts_requests_by_opcode);
fn stats_counts_requests_by_opcode(h: Helper) {
    let sb = Sandbox::new(h);
    for i in 0..30 {
        std::fs::write(sb.dir().join(format!("f{i}")), "x\n").unwrap();
    }
    let stats = sb.dir().join("stats.json");
    let sb = sb.opt("--stats").opt(&stats);
    sb.run_sh("for i in $(seq 0 29); do cat f$i; done >/dev/null; ls >/dev/null")
        .ok();
    let json = std::fs::read_to_string(&stats).expect("the stats file");
    assert!(
        json.starts_with("{\"requests\":{") && json.ends_with("}\n"),
        "{json}"
    );
    let count = |key| number(&json, key).unwrap_or(0.0);
    assert!(count("open") >= 30.0, "30 files were opened\n{json}");
    assert!(count("read") >= 30.0, "30 files were read\n{json}");
    assert!(count("opendir") >= 1.0, "ls opens its directory\n{json}");
    let per_op: f64 = json["{\"requests\":{".len()..json.find('}').unwrap()]
        .split(',')
        .map(|kv| kv.rsplit(':').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(Some(per_op), number(&json, "total"), "{json}");
    let cpu = number(&json, "user").unwrap() + number(&json, "system").unwrap();
    assert!(cpu > 0.0, "the daemon used some CPU\n{json}");
}

e2e!(shared, stats_file_is_checked_before_the_build_runs);
fn stats_file_is_checked_before_the_build_runs(h: Helper) {
    let sb = Sandbox::new(h);
    let marker = sb.dir().join("ran");
    let missing = sb.dir().join("no-such-dir/stats.json");
    let sb = sb.opt("--stats").opt(&missing);
    let out = sb.run(&["touch", marker.to_str().unwrap()]);
    out.expect_code(125);
    assert!(
        out.stderr.contains("--stats"),
        "the error names the option\n{out}"
    );
    assert!(!marker.exists(), "the build must not run\n{out}");
}
