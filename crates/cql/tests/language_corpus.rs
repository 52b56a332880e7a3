//! The parser corpus: every statement under `tests/corpus/valid/` parses and survives a
//! display/re-parse round trip; every case in `tests/corpus/invalid.txt` fails where it says.

use std::path::Path;

use ilion_cql::{parse_statement, parse_statements};

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

#[test]
fn every_valid_corpus_statement_parses_and_round_trips_through_display() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir().join("valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cql"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "corpus files missing: {files:?}");
    let mut total = 0;
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let statements =
            parse_statements(&src).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            !statements.is_empty(),
            "{} has no statements",
            file.display()
        );
        for parsed in statements {
            total += 1;
            let printed = parsed.statement.to_string();
            let reparsed = parse_statement(&printed).unwrap_or_else(|e| {
                panic!(
                    "{}: printed form of\n  {}\ndoes not parse:\n  {printed}\n  {e}",
                    file.display(),
                    parsed.text
                )
            });
            assert_eq!(
                reparsed.statement,
                parsed.statement,
                "{}: round trip changed\n  {}\nprinted as\n  {printed}",
                file.display(),
                parsed.text
            );
            assert_eq!(reparsed.bind_markers, parsed.bind_markers);
            // The original text on its own parses to the same statement.
            let alone = parse_statement(&parsed.text).unwrap();
            assert_eq!(alone.statement, parsed.statement);
        }
    }
    assert!(total >= 250, "only {total} corpus statements");
}

/// `invalid.txt`: one case per line, `<line>:<column> | <statement>`; `\n` in the statement
/// stands for a newline. Blank lines and lines starting with `#` are skipped.
#[test]
fn every_invalid_corpus_statement_fails_at_its_expected_position() {
    let src = std::fs::read_to_string(corpus_dir().join("invalid.txt")).unwrap();
    let mut cases = 0;
    for line in src.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (pos, statement) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("bad case line: {line}"));
        let (l, c) = pos.split_once(':').unwrap();
        let (l, c): (u32, u32) = (l.trim().parse().unwrap(), c.trim().parse().unwrap());
        let statement = statement.replace("\\n", "\n");
        let err = match parse_statement(&statement) {
            Ok(p) => panic!(
                "expected a syntax error for {statement:?}, parsed {:?}",
                p.statement
            ),
            Err(e) => e,
        };
        assert_eq!(
            (err.line(), err.column()),
            (l, c),
            "wrong position for {statement:?}: {err}"
        );
        assert_eq!(err.code(), 0x2000);
        assert!(
            err.to_string().starts_with(&format!("line {l}:{c} ")),
            "{err}"
        );
        cases += 1;
    }
    assert!(cases >= 40, "only {cases} invalid cases");
}
