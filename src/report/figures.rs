//! Figures for people: thousands separated, sizes in binary units, and the one-line
//! footprint printed at the end of a run.

use super::model::Totals;

/// "read 1,204 files in 87 directories · wrote 37 · ran 212 programs · 2 refused".
pub fn footprint_line(t: &Totals) -> String {
    let plural = |n: u64, one: &str, many: &str| {
        format!("{} {}", thousands(n), if n == 1 { one } else { many })
    };
    format!(
        "read {} in {} · wrote {} · ran {} · {} refused",
        plural(t.read, "file", "files"),
        plural(t.read_dirs, "directory", "directories"),
        thousands(t.written),
        plural(t.runs, "program", "programs"),
        thousands(t.refused)
    )
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn the_footprint_line() {
        let t = Totals {
            read: 1_204,
            read_dirs: 87,
            written: 37,
            programs: 20,
            runs: 212,
            refused: 2,
            changed_outside: 0,
        };
        assert_eq!(
            footprint_line(&t),
            "read 1,204 files in 87 directories · wrote 37 · ran 212 programs · 2 refused"
        );
        let one = Totals {
            read: 1,
            read_dirs: 1,
            runs: 1,
            ..Totals::default()
        };
        assert_eq!(
            footprint_line(&one),
            "read 1 file in 1 directory · wrote 0 · ran 1 program · 0 refused"
        );
    }
}
