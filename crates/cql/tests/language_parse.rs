//! What the parser produces for the statements a server relies on, and how it fails.

use ilion_cql::language::ast::*;
use ilion_cql::language::{MAX_DEPTH, SyntaxError};
use ilion_cql::{parse_statement, parse_statements};

fn parse(src: &str) -> Statement {
    parse_statement(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .statement
}

fn id(s: &str) -> Ident {
    Ident::new(s)
}

#[test]
fn bind_markers_are_numbered_in_order_and_keep_their_names() {
    let p = parse_statement(
        "INSERT INTO ks.t (a, b, c) VALUES (?, :bee, ?) USING TTL :ttl AND TIMESTAMP ?",
    )
    .unwrap();
    let names: Vec<_> = p
        .bind_markers
        .iter()
        .map(|m| (m.index, m.name.as_ref().map(|n| n.as_str().to_string())))
        .collect();
    assert_eq!(
        names,
        vec![
            (0, None),
            (1, Some("bee".into())),
            (2, None),
            (3, Some("ttl".into())),
            (4, None)
        ]
    );
    let Statement::Insert(insert) = p.statement else {
        panic!("not an insert")
    };
    assert_eq!(insert.table.keyspace, Some(id("ks")));
    assert_eq!(
        insert.using,
        vec![
            UsingParam::Ttl(Term::Bind(BindMarker {
                index: 3,
                name: Some(id("ttl"))
            })),
            UsingParam::Timestamp(Term::Bind(BindMarker {
                index: 4,
                name: None
            })),
        ]
    );
}

#[test]
fn markers_in_a_batch_are_numbered_across_its_statements() {
    let p = parse_statement(
        "BEGIN BATCH INSERT INTO t (k) VALUES (?); UPDATE t SET v = ? WHERE k = ?; APPLY BATCH",
    )
    .unwrap();
    assert_eq!(
        p.bind_markers.iter().map(|m| m.index).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[test]
fn markers_restart_at_zero_for_each_statement_of_a_script() {
    let ps = parse_statements("SELECT * FROM t WHERE k = ?; SELECT * FROM t WHERE k = ? AND c = ?")
        .unwrap();
    assert_eq!(ps[0].bind_markers.len(), 1);
    assert_eq!(
        ps[1]
            .bind_markers
            .iter()
            .map(|m| m.index)
            .collect::<Vec<_>>(),
        vec![0, 1]
    );
}

#[test]
fn unquoted_names_are_lowercased_and_quoted_names_keep_case_and_escapes() {
    let Statement::Select(s) = parse(r#"SELECT MyCol, "MyCol", "say ""hi""" FROM "Ks".Tbl"#) else {
        panic!()
    };
    let Selection::Items(items) = &s.selection else {
        panic!()
    };
    let cols: Vec<_> = items.iter().map(|i| i.selector.clone()).collect();
    assert_eq!(
        cols,
        vec![
            Selector::Column(id("mycol")),
            Selector::Column(id("MyCol")),
            Selector::Column(id("say \"hi\"")),
        ]
    );
    assert_eq!(
        s.table,
        QualifiedName {
            keyspace: Some(id("Ks")),
            name: id("tbl")
        }
    );
}

#[test]
fn unreserved_keywords_are_usable_as_column_names() {
    let s = parse(
        "SELECT key, type, ttl, writetime, count, filtering, values, json FROM t WHERE key = 1 ALLOW FILTERING",
    );
    let Statement::Select(s) = s else { panic!() };
    let Selection::Items(items) = &s.selection else {
        panic!()
    };
    assert_eq!(items.len(), 8);
    assert_eq!(items[2].selector, Selector::Column(id("ttl")));
    assert!(s.allow_filtering);
    assert!(matches!(
        parse("CREATE TABLE t (key int PRIMARY KEY, type text, ttl int)"),
        Statement::CreateTable(_)
    ));
}

#[test]
fn reserved_keywords_are_not_names_unless_quoted() {
    let err = parse_statement("SELECT * FROM select").unwrap_err();
    assert_eq!((err.line(), err.column(), err.found()), (1, 14, "select"));
    let Statement::Select(s) = parse(r#"SELECT * FROM "select""#) else {
        panic!()
    };
    assert_eq!(s.table.name, id("select"));
}

#[test]
fn partition_and_clustering_keys_are_recorded_as_written() {
    let Statement::CreateTable(t) = parse(
        "CREATE TABLE ks.t (a int, b int, c text, d int STATIC, e counter, PRIMARY KEY ((a, b), c)) \
         WITH CLUSTERING ORDER BY (c DESC) AND gc_grace_seconds = 10 AND COMPACT STORAGE",
    ) else {
        panic!()
    };
    assert_eq!(
        t.primary_key,
        Some(PrimaryKey {
            partition: vec![id("a"), id("b")],
            clustering: vec![id("c")]
        })
    );
    assert!(t.columns[3].is_static);
    assert_eq!(t.columns[4].ty, CqlType::Counter);
    assert_eq!(t.options.clustering_order, vec![(id("c"), Order::Desc)]);
    assert!(t.options.compact_storage);
    assert_eq!(
        t.options.properties,
        vec![Property {
            name: id("gc_grace_seconds"),
            value: PropertyValue::Literal(Literal::Integer("10".into()))
        }]
    );
}

#[test]
fn nested_collection_types_parse_to_their_structure() {
    let Statement::CreateTable(t) =
        parse("CREATE TABLE t (k int PRIMARY KEY, v map<text, frozen<list<tuple<int, my_udt>>>>)")
    else {
        panic!()
    };
    let expected = CqlType::map(
        CqlType::Text,
        CqlType::list(CqlType::Tuple(vec![
            CqlType::Int,
            CqlType::Udt(UdtType::named(None, "my_udt")),
        ]))
        .frozen(),
    );
    assert_eq!(t.columns[1].ty, expected);
}

#[test]
fn update_operations_distinguish_append_prepend_remove_and_element_writes() {
    let Statement::Update(u) = parse(
        "UPDATE t SET a = a + [1], b = [2] + b, c = c - {3}, d['k'] = 4, e.f = 5, n += 1 WHERE k = 0 IF EXISTS",
    ) else {
        panic!()
    };
    let int = |s: &str| Term::Literal(Literal::Integer(s.into()));
    assert_eq!(
        u.assignments,
        vec![
            Assignment::Append {
                column: id("a"),
                value: Term::List(vec![int("1")])
            },
            Assignment::Prepend {
                column: id("b"),
                value: Term::List(vec![int("2")])
            },
            Assignment::Remove {
                column: id("c"),
                value: Term::Set(vec![int("3")])
            },
            Assignment::SetElement {
                column: id("d"),
                key: Term::Literal(Literal::String("k".into())),
                value: int("4")
            },
            Assignment::SetField {
                column: id("e"),
                field: id("f"),
                value: int("5")
            },
            Assignment::Append {
                column: id("n"),
                value: int("1")
            },
        ]
    );
    assert_eq!(u.condition, Some(Condition::Exists));
}

#[test]
fn where_clauses_cover_tuples_tokens_in_and_contains() {
    let Statement::Select(s) = parse(
        "SELECT * FROM t WHERE token(a, b) > token(?, ?) AND (c, d) IN ((1, 2), (3, 4)) AND e IN ? \
         AND m CONTAINS KEY 'x' AND f <= -1.5e3",
    ) else {
        panic!()
    };
    assert!(matches!(
        &s.where_clause[0],
        Relation::Compare { target: RelationTarget::Token(cols), op: Operator::Gt, value: Term::Function { .. } } if cols.len() == 2
    ));
    assert!(
        matches!(&s.where_clause[1], Relation::In { target: RelationTarget::Tuple(_), values: InValues::List(v) } if v.len() == 2)
    );
    assert!(matches!(
        &s.where_clause[2],
        Relation::In {
            values: InValues::Marker(BindMarker { index: 2, .. }),
            ..
        }
    ));
    assert!(matches!(
        &s.where_clause[3],
        Relation::Compare {
            op: Operator::ContainsKey,
            ..
        }
    ));
    assert!(
        matches!(&s.where_clause[4], Relation::Compare { value: Term::Literal(Literal::Float(f)), .. } if f == "-1.5e3")
    );
}

#[test]
fn selectors_cover_aggregates_casts_and_metadata_functions() {
    let Statement::Select(s) = parse(
        "SELECT COUNT(*) AS n, count(1), CAST(a AS text), WRITETIME(b), TTL(b), ks.f(g(c), 1) FROM t",
    ) else {
        panic!()
    };
    let Selection::Items(items) = &s.selection else {
        panic!()
    };
    assert_eq!(items[0].selector, Selector::CountStar);
    assert_eq!(items[0].alias, Some(id("n")));
    assert!(
        matches!(&items[1].selector, Selector::Function { name, .. } if name.name == id("count"))
    );
    assert!(matches!(
        &items[2].selector,
        Selector::Cast {
            ty: CqlType::Text,
            ..
        }
    ));
    assert_eq!(items[3].selector, Selector::WriteTime(id("b")));
    assert_eq!(items[4].selector, Selector::Ttl(id("b")));
    assert!(
        matches!(&items[5].selector, Selector::Function { name, args } if name.keyspace == Some(id("ks")) && args.len() == 2)
    );
}

#[test]
fn literals_keep_their_exact_text() {
    let Statement::Insert(i) = parse(
        "INSERT INTO t (a, b, c, d, e, f) VALUES (-0012, 0xFF, 1h30m, -NaN, 'it''s', $$x'y$$)",
    ) else {
        panic!()
    };
    let InsertValues::Columns { values, .. } = &i.values else {
        panic!()
    };
    assert_eq!(
        values,
        &vec![
            Term::Literal(Literal::Integer("-0012".into())),
            Term::Literal(Literal::Hex("0xFF".into())),
            Term::Literal(Literal::Duration("1h30m".into())),
            Term::Literal(Literal::Float("NaN".into())),
            Term::Literal(Literal::String("it's".into())),
            Term::Literal(Literal::String("x'y".into())),
        ]
    );
}

#[test]
fn the_statement_text_and_span_exclude_separators_and_comments_between_statements() {
    let src = "  SELECT * FROM a ;\n-- note\nDROP TABLE b;";
    let ps = parse_statements(src).unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].text, "SELECT * FROM a");
    assert_eq!(ps[1].text, "DROP TABLE b");
    assert_eq!(&src[ps[1].span.clone()], "DROP TABLE b");
}

#[test]
fn parse_statement_takes_one_statement_with_an_optional_semicolon() {
    assert!(parse_statement("USE ks;").is_ok());
    assert!(parse_statement("USE ks").is_ok());
    let err = parse_statement("USE ks; USE other").unwrap_err();
    assert_eq!((err.line(), err.column()), (1, 8));
    let err = parse_statement("   ").unwrap_err();
    assert!(matches!(err, SyntaxError::Mismatched { ref found, .. } if found == "<EOF>"));
}

#[test]
fn syntax_errors_carry_the_protocol_code_and_a_cassandra_style_message() {
    let err = parse_statement("SELECT * FORM t").unwrap_err();
    assert_eq!(err.code(), 0x2000);
    assert_eq!(
        err.to_string(),
        "line 1:9 mismatched input 'FORM' expecting FROM"
    );
    let crate_err: ilion_cql::Error = err.into();
    assert!(matches!(crate_err, ilion_cql::Error::Syntax(_)));
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let deep = |open: &str, close: &str, n: usize| {
        format!(
            "SELECT * FROM t WHERE k = {}1{}",
            open.repeat(n),
            close.repeat(n)
        )
    };
    for (open, close) in [("[", "]"), ("(", ")"), ("{", "}"), ("f(", ")")] {
        let err = parse_statement(&deep(open, close, 10_000)).unwrap_err();
        assert!(
            matches!(err, SyntaxError::TooDeep { limit, .. } if limit == MAX_DEPTH),
            "{open}: {err}"
        );
        assert!(
            parse_statement(&deep(open, close, 20)).is_ok(),
            "{open} at depth 20"
        );
    }
    let types = format!(
        "CREATE TABLE t (k {}int{} PRIMARY KEY)",
        "list<".repeat(5000),
        ">".repeat(5000)
    );
    assert!(matches!(
        parse_statement(&types),
        Err(SyntaxError::TooDeep { .. })
    ));
    let selectors = format!("SELECT {}a{} FROM t", "(".repeat(5000), ")".repeat(5000));
    assert!(matches!(
        parse_statement(&selectors),
        Err(SyntaxError::TooDeep { .. })
    ));
    let negations = format!("SELECT {}a FROM t", "- ".repeat(5000));
    assert!(matches!(
        parse_statement(&negations),
        Err(SyntaxError::TooDeep { .. })
    ));
}

#[test]
fn schema_statements_that_are_not_implemented_still_parse_to_named_nodes() {
    let cases = [
        (
            "CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE a IS NOT NULL PRIMARY KEY (a)",
            "CREATE MATERIALIZED VIEW",
        ),
        (
            "CREATE FUNCTION f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'",
            "CREATE FUNCTION",
        ),
        (
            "CREATE AGGREGATE a(int) SFUNC f STYPE int",
            "CREATE AGGREGATE",
        ),
        ("CREATE TRIGGER tr ON t USING 'C'", "CREATE TRIGGER"),
        ("DROP TRIGGER tr ON t", "DROP TRIGGER"),
        ("DESCRIBE FULL SCHEMA", "DESCRIBE"),
    ];
    for (src, kind) in cases {
        assert_eq!(parse(src).kind_name(), kind, "{src}");
    }
}

#[test]
fn describe_forms_map_to_their_targets() {
    let d = |src: &str| match parse(src) {
        Statement::Describe(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(d("DESC KEYSPACES").target, DescribeTarget::Keyspaces);
    assert_eq!(
        d("DESCRIBE KEYSPACE").target,
        DescribeTarget::Keyspace {
            name: None,
            only: false
        }
    );
    assert_eq!(
        d("describe table ks.t").target,
        DescribeTarget::Table(QualifiedName {
            keyspace: Some(id("ks")),
            name: id("t")
        })
    );
    assert_eq!(
        d("DESCRIBE ks.t").target,
        DescribeTarget::Name(QualifiedName {
            keyspace: Some(id("ks")),
            name: id("t")
        })
    );
    assert!(d("DESCRIBE KEYSPACE ks WITH INTERNALS").with_internals);
}

// Regressions found by the round-trip property test (seed [7; 32] and the CQL_RT_SEED runs).

#[test]
fn select_json_before_a_negated_selector_keeps_the_modifier() {
    let Statement::Select(s) = parse("SELECT JSON -a FROM t") else {
        panic!()
    };
    assert!(s.json);
    assert_eq!(parse(&s.to_string()), Statement::Select(s));
}

#[test]
fn slices_of_sets_and_maps_parse_with_open_bounds() {
    let Statement::Select(s) = parse("SELECT s[1..3], m['a'..], m[..'z'] FROM t") else {
        panic!()
    };
    let int = |i: &str| Some(Term::Literal(Literal::Integer(i.into())));
    let text = |t: &str| Some(Term::Literal(Literal::String(t.into())));
    let slice = |c: &str, from, to| SelectItem {
        selector: Selector::Slice {
            selector: Box::new(Selector::Column(Ident::new(c))),
            from,
            to,
        },
        alias: None,
    };
    assert_eq!(
        s.selection,
        Selection::Items(vec![
            slice("s", int("1"), int("3")),
            slice("m", text("a"), None),
            slice("m", None, text("z")),
        ])
    );
}

#[test]
fn a_parenthesised_string_before_a_subscript_is_not_read_as_a_type_hint() {
    let sel = Selector::Element {
        selector: Box::new(Selector::Term(Term::Literal(
            Literal::String(String::new()),
        ))),
        key: Term::Literal(Literal::String(String::new())),
    };
    let stmt = format!("SELECT {sel} FROM a");
    let Statement::Select(s) = parse(&stmt) else {
        panic!()
    };
    assert_eq!(
        s.selection,
        Selection::Items(vec![SelectItem {
            selector: sel,
            alias: None
        }])
    );
}

#[test]
fn a_tuple_map_key_is_not_read_as_a_type_hint_of_a_named_marker() {
    let Statement::Update(u) = parse("UPDATE a SET a = '' WHERE a = {(''): a()}") else {
        panic!()
    };
    assert!(
        matches!(&u.where_clause[0], Relation::Compare { value: Term::Map(m), .. } if matches!(m[0].0, Term::Tuple(_)))
    );
}

#[test]
fn functions_named_like_keywords_print_quoted_where_the_keyword_would_win() {
    for name in ["key", "as", "writetime", "json", "distinct"] {
        let s = Statement::Select(Box::new(Select {
            json: false,
            distinct: true,
            selection: Selection::Items(vec![SelectItem {
                selector: Selector::Function {
                    name: QualifiedName {
                        keyspace: None,
                        name: id(name),
                    },
                    args: vec![],
                },
                alias: None,
            }]),
            table: QualifiedName {
                keyspace: None,
                name: id("t"),
            },
            where_clause: vec![],
            group_by: vec![],
            order_by: vec![],
            per_partition_limit: None,
            limit: None,
            allow_filtering: false,
        }));
        assert_eq!(parse(&s.to_string()), s, "{s}");
    }
}

#[test]
fn a_user_type_in_a_keyspace_named_like_a_native_type_stays_a_user_type() {
    let Statement::CreateTable(t) =
        parse("CREATE TABLE a (k int PRIMARY KEY, v list<text.address>)")
    else {
        panic!()
    };
    let udt = CqlType::Udt(UdtType::named(Some("text".into()), "address"));
    assert_eq!(t.columns[1].ty, CqlType::list(udt));
    let s = Statement::CreateTable(t);
    assert_eq!(parse(&s.to_string()), s);
}

#[test]
fn contains_followed_by_a_function_of_keyspace_key_is_not_contains_key() {
    let Statement::Delete(d) = parse("DELETE FROM a WHERE a CONTAINS key.f()") else {
        panic!()
    };
    assert!(matches!(
        &d.where_clause[0],
        Relation::Compare {
            op: Operator::Contains,
            value: Term::Function { .. },
            ..
        }
    ));
    assert!(matches!(
        parse("SELECT * FROM a WHERE m CONTAINS KEY (text) 'k'"),
        Statement::Select(s) if matches!(s.where_clause[0], Relation::Compare { op: Operator::ContainsKey, .. })
    ));
}

#[test]
fn names_spelled_like_modifier_sensitive_keywords_print_quoted_and_common_ones_bare() {
    let Statement::Select(s) = parse(r#"SELECT DISTINCT "as"[0], key, time, users FROM "json""#)
    else {
        panic!()
    };
    assert!(s.distinct);
    let printed = s.to_string();
    assert_eq!(
        printed,
        r#"SELECT DISTINCT "as"[0], key, time, users FROM "json""#
    );
    assert_eq!(parse(&printed), Statement::Select(s));
}
