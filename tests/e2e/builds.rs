//! Real builds through the mirror: a tarball extracted with its mtimes, autotools' configure
//! and make, and `find /usr` seeing what the host sees.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;

e2e!(shared, tarball_extraction_keeps_mtimes);
fn tarball_extraction_keeps_mtimes(h: Helper) {
    let sb = Sandbox::new(h);
    let d = sb.dir();
    native_sh(
        r#"set -e
mkdir -p src/pkg-1.0/lib/deep native inside
cd src/pkg-1.0
echo main > main.c && touch -d '2001-02-03 04:05:06' main.c
echo lib > lib/lib.c && touch -d '1999-01-01 00:00:01' lib/lib.c
echo deep > lib/deep/x.h && touch -d '2010-10-10 10:10:10' lib/deep/x.h
ln -s main.c link.c && touch -h -d '2005-05-05 05:05:05' link.c
printf '#!/bin/sh\necho configured\n' > configure && chmod 755 configure && touch -d '2002-02-02 02:02:02' configure
touch -d '2003-03-03 03:03:03' lib/deep lib
cd .. && touch -d '2004-04-04 04:04:04' pkg-1.0
tar -czf ../pkg-1.0.tar.gz pkg-1.0
cd ../native && tar -xzf ../pkg-1.0.tar.gz"#,
        &[] as &[&str],
        d,
    );
    let listing = "cd \"$1\" && find . -mindepth 1 -printf '%T@ %y %P\\n' | LC_ALL=C sort";
    let native_view = native_sh(listing, &[d.join("native")], d);
    assert!(
        native_view.stdout.contains("981173106"),
        "sanity: old mtimes in the native extraction"
    );

    let out = sb.run_sh("cd inside && tar -xzf ../pkg-1.0.tar.gz && ./pkg-1.0/configure");
    out.ok();
    assert_eq!(out.stdout, "configured\n", "{out}");
    let inside_view = sb.run_sh_args(listing, &[d.join("inside")]);
    inside_view.ok();
    assert_eq!(
        inside_view.stdout, native_view.stdout,
        "mtimes seen inside after extracting inside\n{inside_view}"
    );
    let host_view = native_sh(listing, &[d.join("inside")], d);
    assert_eq!(
        host_view.stdout, native_view.stdout,
        "mtimes on the host after extracting inside"
    );
}

e2e!(shared, autotools_configure_and_make);
fn autotools_configure_and_make(h: Helper) {
    assert!(
        have("autoreconf"),
        "autoreconf is needed on the host: install autoconf and automake"
    );
    let sb = Sandbox::new(h).timeout(Duration::from_secs(300));
    let d = sb.dir();
    let fixture = fixtures().join("hello-autotools");
    assert!(
        fixture.join("configure.ac").exists(),
        "fixture missing: {}",
        fixture.display()
    );
    native_sh(
        r#"cp -R "$1/." . && autoreconf -i >/dev/null 2>&1"#,
        &[&fixture],
        d,
    );
    assert!(d.join("configure").exists());
    let out = sb.run_sh("./configure && make && make check && ./hello");
    out.ok();
    assert!(
        out.stdout.ends_with("Hello from fusebox-hello 1.0\n"),
        "{out}"
    );
    // The build's results are on the host and run there.
    let host = native(&[d.join("hello")], d);
    host.ok();
    assert_eq!(host.stdout, "Hello from fusebox-hello 1.0\n");
    assert!(d.join("config.log").exists() && d.join("hello.o").exists());
}

e2e!(shared, find_usr_matches_the_host);
fn find_usr_matches_the_host(h: Helper) {
    let tmp = tmpdir();
    let host = native(&["find", "/usr", "-xdev"], tmp.path());
    let out = Sandbox::new(h)
        .timeout(Duration::from_secs(400))
        .run(&["find", "/usr", "-xdev"]);
    assert!(
        !out.stderr.contains("Too many open files"),
        "EMFILE inside\n{out}"
    );
    assert_eq!(
        out.stderr, host.stderr,
        "find's errors inside vs host\n{out}"
    );
    assert_eq!(out.code(), host.code(), "{out}");
    let inside: BTreeSet<&str> = out.stdout.lines().collect();
    let native: BTreeSet<&str> = host.stdout.lines().collect();
    let missing: Vec<_> = native.difference(&inside).take(10).collect();
    let extra: Vec<_> = inside.difference(&native).take(10).collect();
    assert_eq!(
        out.stdout.lines().count(),
        host.stdout.lines().count(),
        "find /usr -xdev | wc -l inside vs host; missing inside: {missing:?}; extra inside: {extra:?}"
    );
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?} extra {extra:?}"
    );
}
