//! Real Portage: in the Prefix of tests/e2e/portage/, whose sandbox.d gives every package
//! build `--report fusebox-report.json`, a package's report names its undeclared
//! dependencies.

use std::path::Path;

use serde_json::Value;

use super::*;
use crate::common::*;

/// The test ebuilds of the undeclared-dependency case, added to tests/e2e/portage/'s
/// repository: both compile against the fake installed library's header; one declares
/// it, the other does not.
pub const EBUILDS: &[(&str, &str)] = &[
    (
        "uses-fakelib",
        r#"src_unpack() {
	printf '#include <fakelib.h>\nint main(void) { return FAKELIB_ANSWER - 42; }\n' > u.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -I"${EPREFIX}/usr/include" -o u u.c || die
}

src_install() {
	dobin u
}
"#,
    ),
    (
        "declares-fakelib",
        r#"DEPEND="dev-libs/fakelib"

src_unpack() {
	printf '#include <fakelib.h>\nint main(void) { return FAKELIB_ANSWER - 42; }\n' > d.c || die
}

src_compile() {
	${CC:-cc} ${CFLAGS} -I"${EPREFIX}/usr/include" -o d d.c || die
}

src_install() {
	dobin d
}
"#,
    ),
];

/// `dev-libs/fakelib-1`, installed in the Prefix as Portage records an installed
/// package (`${EPREFIX}/var/db/pkg/dev-libs/fakelib-1/`), owning one header.
pub fn install_fake_library(eprefix: &Path) {
    let header = eprefix.join("usr/include/fakelib.h");
    std::fs::create_dir_all(header.parent().unwrap()).unwrap();
    std::fs::write(&header, "#define FAKELIB_ANSWER 42\n").unwrap();
    let vdb = eprefix.join("var/db/pkg/dev-libs/fakelib-1");
    std::fs::create_dir_all(&vdb).unwrap();
    for (file, text) in [
        ("CATEGORY", "dev-libs\n".to_string()),
        ("PF", "fakelib-1\n".to_string()),
        ("SLOT", "0\n".to_string()),
        ("EAPI", "8\n".to_string()),
        ("COUNTER", "1\n".to_string()),
        ("repository", "fbtest\n".to_string()),
        (
            "CONTENTS",
            format!(
                "dir {inc}\nobj {h} 0123456789abcdef0123456789abcdef 1700000000\n",
                inc = s(header.parent().unwrap()),
                h = s(&header)
            ),
        ),
    ] {
        std::fs::write(vdb.join(file), text).unwrap();
    }
}

/// The package's report, `${T}/fusebox-report.json`, schema-checked.
fn package_report(p: &crate::portage::Prefix, name: &str) -> Value {
    let file = p.builddir(name).join("temp/fusebox-report.json");
    assert!(file.is_file(), "no {}", file.display());
    validate_schema(&file);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

e2e!(shared, report_portage_undeclared_dependencies);
/// An ebuild compiling against the header of an installed package it does not declare
/// has that package, and the header, under undeclared dependencies; one that declares
/// it has none. Each report covers every phase of its package.
fn report_portage_undeclared_dependencies(h: Helper) {
    let p = crate::portage::prefix(h);
    let header = p.eprefix.join("usr/include/fakelib.h");

    let out = p.ebuild("uses-fakelib");
    assert_eq!(out.code(), Some(0), "{out}");
    let doc = package_report(p, "uses-fakelib");
    let undeclared = &doc["undeclared"];
    assert_eq!(
        undeclared["package"], "app-misc/uses-fakelib-1",
        "{undeclared:#}"
    );
    let fakelib = undeclared["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dev-libs/fakelib-1")
        .unwrap_or_else(|| panic!("fakelib not reported as undeclared: {undeclared:#}"));
    assert_eq!(fakelib["db"], "portage");
    assert_eq!(fakelib["files"][0], s(&header));
    // All phases: the source written in unpack, the compiler run in compile, the
    // program installed in install.
    assert!(
        doc["title"]
            .as_str()
            .unwrap()
            .starts_with("app-misc/uses-fakelib-1")
    );
    let programs = doc["programs"].to_string();
    assert!(programs.contains("/cc1\""), "{programs}");
    let tree = doc["tree"].to_string();
    assert!(
        tree.contains("/image"),
        "the install phase is missing: {tree}"
    );
    assert!(
        tree.contains("/work"),
        "the unpack/compile phases are missing: {tree}"
    );
    assert_eq!(doc["totals"]["refused"], 0);

    let out = p.ebuild("declares-fakelib");
    assert_eq!(out.code(), Some(0), "{out}");
    let doc = package_report(p, "declares-fakelib");
    assert_eq!(
        doc["undeclared"]["packages"],
        Value::Array(vec![]),
        "{doc:#}"
    );
    assert!(
        doc["undeclared"]["declared"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "dev-libs/fakelib")
    );
    // The package was used all the same.
    assert!(
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "dev-libs/fakelib-1"),
        "{:#}",
        doc["packages"]
    );
}
