//! The sandbox's own namespaces and what it shares with the host: `--net none|host`,
//! `--uid-map`, `--hostname`, IPC, and `--share DIR` (FIFOs and sockets to the host).

use std::os::unix::fs::MetadataExt;

use crate::common::*;

fn ip_tool() -> String {
    find_tool(
        &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"],
        "iproute2",
    )
}

fn proc_net_dev_names(s: &str) -> Vec<String> {
    s.lines()
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
        .collect()
}

e2e!(shared, net_none_has_only_lo_up);
fn net_none_has_only_lo_up(h: Helper) {
    let ip = ip_tool();
    let out = Sandbox::new(h).opts(&["--net", "none"]).run_sh_args(
        r#""$1" -o link; echo ===; tail -n +3 /proc/net/dev; echo ===; readlink /proc/self/ns/net"#,
        &[&ip],
    );
    out.ok();
    let parts: Vec<&str> = out.stdout.split("===\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    let links: Vec<&str> = parts[0].lines().collect();
    assert_eq!(
        links.len(),
        1,
        "only lo should exist with --net none\n{out}"
    );
    let lo = links[0];
    assert!(lo.contains(" lo:"), "{out}");
    let flags = lo
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or("");
    assert!(
        flags.split(',').any(|f| f == "UP"),
        "lo should be UP, flags <{flags}>\n{out}"
    );
    assert_eq!(proc_net_dev_names(parts[1]), vec!["lo"], "{out}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        parts[2].trim(),
        host_ns.to_str().unwrap(),
        "a new net namespace\n{out}"
    );
    // Loopback works.
    let out = Sandbox::new(h)
        .opts(&["--net", "none"])
        .run_sh_args(r#""$1" -o addr show lo"#, &[&ip]);
    out.ok();
    assert!(out.stdout.contains("127.0.0.1"), "lo has 127.0.0.1\n{out}");
}

e2e!(shared, net_host_shares_the_host_network);
fn net_host_shares_the_host_network(h: Helper) {
    let out = Sandbox::new(h)
        .opts(&["--net", "host"])
        .run_sh("readlink /proc/self/ns/net; echo ===; tail -n +3 /proc/net/dev");
    out.ok();
    let (ns, devs) = out
        .stdout
        .split_once("===\n")
        .unwrap_or_else(|| panic!("{out}"));
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        ns.trim(),
        host_ns.to_str().unwrap(),
        "--net host: the host's net namespace\n{out}"
    );
    let host_devs = proc_net_dev_names(
        &std::fs::read_to_string("/proc/net/dev")
            .unwrap()
            .lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let inside_devs = proc_net_dev_names(devs);
    assert_eq!(inside_devs, host_devs, "{out}");
}

e2e!(shared, uid_map_self_and_root);
fn uid_map_self_and_root(h: Helper) {
    let out = Sandbox::new(h).run_sh("id -u; id -g");
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{}\n{}\n", my_uid(), my_gid()),
        "default --uid-map self\n{out}"
    );
    let out = Sandbox::new(h)
        .opts(&["--uid-map", "self"])
        .run(&["id", "-u"]);
    out.ok();
    assert_eq!(out.stdout.trim(), my_uid().to_string(), "{out}");
    let sb = Sandbox::new(h).opts(&["--uid-map", "root"]);
    let out = sb.run_sh("id -u && touch made-as-root");
    out.ok();
    assert_eq!(out.stdout.trim(), "0", "--uid-map root\n{out}");
    let m = std::fs::metadata(sb.dir().join("made-as-root")).unwrap();
    assert_eq!(m.uid(), my_uid(), "root inside is the user outside");
}

e2e!(shared, hostname_and_ipc_options);
fn hostname_and_ipc_options(h: Helper) {
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = Sandbox::new(h)
        .opts(&["--hostname", "fusebox-e2e-host"])
        .run(&["uname", "-n"]);
    out.ok();
    assert_eq!(out.stdout, "fusebox-e2e-host\n", "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name,
        "host unchanged"
    );

    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let out = Sandbox::new(h).run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_ne!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "by default: a new IPC namespace\n{out}"
    );
    let out = Sandbox::new(h)
        .opt("--unshare-ipc")
        .run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_ne!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "--unshare-ipc (the default) still accepted\n{out}"
    );
    let out = Sandbox::new(h)
        .opt("--share-ipc")
        .run(&["readlink", "/proc/self/ns/ipc"]);
    out.ok();
    assert_eq!(
        out.stdout.trim(),
        host_ipc.to_str().unwrap(),
        "--share-ipc: the host's\n{out}"
    );
}

// =============================================================================================
// Shared with the host

e2e!(shared, share_connects_fifos_and_sockets_to_the_host);
/// `--share DIR`: a FIFO and a Unix socket under DIR connect the build to processes on
/// the host (through the mirror alone they cannot); DIR stays unchangeable.
fn share_connects_fifos_and_sockets_to_the_host(h: Helper) {
    use std::io::{BufRead, Read, Write};
    use std::os::unix::net::UnixListener;
    let sb = Sandbox::new(h);
    let ipc = sb.dir().join("ipc");
    std::fs::create_dir(&ipc).unwrap();
    let fifo = ipc.join("in");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let listener = UnixListener::bind(ipc.join("sock")).unwrap();
    // The host's ends, each in a thread (the hang guard of the run bounds them).
    let fifo_reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut got = String::new();
            std::fs::File::open(&fifo)
                .and_then(|mut f| f.read_to_string(&mut got))
                .map(|_| got)
        })
    };
    let server = std::thread::spawn(move || -> std::io::Result<String> {
        let (mut conn, _) = listener.accept()?;
        let mut line = String::new();
        std::io::BufReader::new(conn.try_clone()?).read_line(&mut line)?;
        conn.write_all(format!("host got {line}").as_bytes())?;
        Ok(line)
    });
    let out = sb.opt("--share").opt(&ipc).run_sh_args(
        r#"echo through-the-fifo > "$1/in"
python3 -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1] + "/sock")
s.sendall(b"hello\n"); print(s.makefile().readline().strip())' "$1"
touch "$1/new" 2>/dev/null && echo created || echo refused"#,
        &[&ipc],
    );
    out.ok();
    let fifo_got = fifo_reader.join().unwrap().unwrap();
    let socket_got = server.join().unwrap().unwrap();
    assert_eq!(
        fifo_got, "through-the-fifo\n",
        "the host should read the FIFO\n{out}"
    );
    assert_eq!(
        socket_got, "hello\n",
        "the host should get the connection\n{out}"
    );
    assert_eq!(out.stdout_lines(), ["host got hello", "refused"], "{out}");
    assert!(
        !ipc.join("new").exists(),
        "nothing may be created under a share"
    );
}
