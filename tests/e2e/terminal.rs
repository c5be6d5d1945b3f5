//! A build on a terminal: an interactive shell with job control, and a Ctrl-C that arrives
//! once.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

e2e!(shared, interactive_shell_has_job_control);
fn interactive_shell_has_job_control(h: Helper) {
    assert!(
        Path::new("/usr/bin/script").exists() || have("script"),
        "install util-linux (script)"
    );
    // `script` gives fusebox-run a pty (in a session of its own, out of reach of our guard):
    // the marker in bash's arguments finds what is left if the test fails.
    let marker = unique("fusebox-e2e-tty-");
    let cmd = format!(
        "'{}' --mount-helper {} -- bash --norc --noprofile -i -s {marker}",
        bin().display(),
        h.name()
    );
    let tmp = tmpdir();
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(tmp.path())
        .env("TERM", "dumb")
        .env("PS1", "e2e$ ")
        .env_remove("TMPDIR");
    let out = {
        let mut run = spawn_command(c, true, Duration::from_secs(60));
        let prompt = run.wait_for("the shell's prompt", Duration::from_secs(30), |r| {
            !r.stdout_so_far().is_empty()
        });
        std::thread::sleep(Duration::from_millis(500));
        if prompt {
            // MON""ITOR and JOBS-$((1+1)): the echo of the input differs from the output.
            run.write_stdin(
                b"case $- in *m*) echo MON\"\"ITOR=on;; *) echo MON\"\"ITOR=off;; esac\n\
                  test -t 0 && test -t 1 && echo STDIN-IS-A-T\"\"TY\n\
                  sleep 300 &\n\
                  jobs\n\
                  kill %1; wait\n\
                  (sleep 2; echo RES\"\"UMED-OK)\n",
            );
            // The terminal turns ^Z and ^C into signals as they are typed: wait until
            // the foreground job runs before typing them.
            std::thread::sleep(Duration::from_millis(700));
            run.write_stdin(b"\x1a");
            std::thread::sleep(Duration::from_millis(500));
            run.write_stdin(b"jobs; echo STOP\"\"PED-$?\nfg\n");
            std::thread::sleep(Duration::from_secs(3));
            run.write_stdin(
                b"sh -c 'trap \"echo GOT-\"\"INT\" INT; sleep 3; echo AFTER-\"\"INT'\n",
            );
            std::thread::sleep(Duration::from_millis(700));
            run.write_stdin(b"\x03");
            std::thread::sleep(Duration::from_millis(500));
            run.write_stdin(b"echo JOBS-$((1+1))\nexit 5\n");
        }
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.wait()));
        let left: Vec<_> = procs_matching(&marker)
            .into_iter()
            .filter(|(_, c)| !c.starts_with("/usr/bin/fusermount"))
            .collect();
        kill_pids(&left);
        match out {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    let s = &out.stdout;
    assert!(
        s.contains("MONITOR=on"),
        "job control should be on in an interactive shell\n{out}"
    );
    assert!(
        !s.contains("no job control") && !s.contains("cannot set terminal process group"),
        "{out}"
    );
    assert!(
        s.contains("STDIN-IS-A-TTY"),
        "the build's stdin and stdout should be a tty\n{out}"
    );
    assert!(
        s.contains("[1]+") && s.contains("Running"),
        "`jobs` should list the sleep\n{out}"
    );
    assert!(
        s.contains("Stopped") && s.contains("STOPPED-0"),
        "Ctrl-Z should stop the foreground job\n{out}"
    );
    assert!(s.contains("RESUMED-OK"), "fg should resume it\n{out}");
    assert_eq!(
        s.matches("GOT-INT").count(),
        1,
        "Ctrl-C should arrive exactly once\n{out}"
    );
    assert!(s.contains("AFTER-INT"), "{out}");
    assert!(s.contains("JOBS-2"), "{out}");
    out.expect_code(5);
}

e2e!(shared, ctrl_c_on_a_terminal_arrives_once);
/// A terminal's Ctrl-C goes to the whole foreground process group, which a
/// non-interactive build shares with fusebox-run: fusebox-run must not forward it again.
fn ctrl_c_on_a_terminal_arrives_once(h: Helper) {
    let marker = unique("fusebox-e2e-ctrlc-");
    let tmp = tmpdir();
    // A handler per delivery (a shell's trap would merge two close SIGINTs into one).
    let counter = tmp.path().join("count-sigint.py");
    std::fs::write(
        &counter,
        "import signal, sys, time\n\
         got = []\n\
         signal.signal(signal.SIGINT, lambda s, f: got.append(s))\n\
         time.sleep(3)\n\
         print('GOT-%d' % len(got))\n\
         sys.exit(4)\n",
    )
    .unwrap();
    let cmd = format!(
        // exec: the shell `script` starts would itself die of the SIGINT after its child.
        "exec '{}' --mount-helper {} -- python3 '{}' {marker}",
        bin().display(),
        h.name(),
        counter.display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(tmp.path())
        .env("TERM", "dumb")
        .env_remove("TMPDIR");
    let out = {
        let mut run = spawn_command(c, true, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(1500));
        run.write_stdin(b"\x03");
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.wait()));
        kill_pids(&procs_matching(&marker));
        match out {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    assert!(
        out.stdout.contains("GOT-1"),
        "the build should see Ctrl-C exactly once\n{out}"
    );
    out.expect_code(4);
}
