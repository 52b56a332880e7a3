//! Property test: generated ASTs of the common statement kinds print as CQL that parses back
//! to an AST that prints the same, and that is a fixed point of print-then-parse.
//!
//! Bind marker indices are assigned by the parser in order of appearance, so a generated AST
//! cannot know them; the printed text (which carries everything but the indices) is compared
//! instead, and the re-parsed AST must be exactly reproduced by a second round trip.

use ilion_cql::language::ast::*;
use ilion_cql::{parse_statement, parse_statements};
use ilion_types::NATIVE_TYPES;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn ident() -> impl Strategy<Value = Ident> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,6}".prop_map(Ident::new),
        2 => proptest::sample::select(ilion_cql::language::UNRESERVED_KEYWORDS).prop_map(Ident::new),
        1 => "[ -~]{1,6}".prop_map(Ident::new),
        1 => "p[0-9]d|[A-Z][a-z]{0,3}|é[a-z]".prop_map(Ident::new),
    ]
}

fn qname() -> impl Strategy<Value = QualifiedName> {
    (proptest::option::of(ident()), ident())
        .prop_map(|(keyspace, name)| QualifiedName { keyspace, name })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        "[ -~é\n]{0,8}".prop_map(Literal::String),
        "-?[0-9]{1,20}".prop_map(Literal::Integer),
        prop_oneof![
            Just("NaN".to_string()),
            Just("Infinity".to_string()),
            Just("-Infinity".to_string()),
            "-?[0-9]{1,4}\\.[0-9]{0,3}([eE][+-]?[0-9]{1,2})?",
            "-?[0-9]{1,3}[eE][0-9]{1,2}",
        ]
        .prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Boolean),
        "0x[0-9a-fA-F]{0,8}".prop_map(Literal::Hex),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(Literal::Uuid),
        "-?([0-9]{1,3}(y|mo|w|d|h|m|s|ms|us|ns)){1,3}|-?P[0-9]{1,2}DT[0-9]{1,2}H|P[0-9]W|P0001-02-03T04:05:06"
            .prop_map(Literal::Duration),
        Just(Literal::Null),
    ]
}

fn marker() -> impl Strategy<Value = BindMarker> {
    proptest::option::of(ident()).prop_map(|name| BindMarker { index: 0, name })
}

fn cql_type() -> impl Strategy<Value = CqlType> {
    let leaf = prop_oneof![
        4 => proptest::sample::select(NATIVE_TYPES.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>()),
        1 => qname().prop_map(|q| CqlType::Udt(UdtType::named(
            q.keyspace.map(|k| k.as_str().to_owned()),
            q.name.as_str(),
        ))),
        1 => "[a-zA-Z.]{1,12}".prop_map(CqlType::Custom),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(CqlType::list),
            inner.clone().prop_map(CqlType::set),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| CqlType::map(k, v)),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(CqlType::Tuple),
            inner.clone().prop_map(CqlType::frozen),
            (inner, 1u32..2000).prop_map(|(t, n)| CqlType::vector(t, n)),
        ]
    })
}

fn term() -> impl Strategy<Value = Term> {
    let leaf =
        prop_oneof![3 => literal().prop_map(Term::Literal), 1 => marker().prop_map(Term::Bind)];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Term::List),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Term::Set),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Term::Map),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Term::Tuple),
            proptest::collection::vec((ident(), inner.clone()), 1..3).prop_map(Term::Udt),
            (qname(), proptest::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Term::Function { name, args }),
            (cql_type(), inner).prop_map(|(ty, t)| Term::TypeHint {
                ty,
                term: Box::new(t)
            }),
        ]
    })
}

fn int_or_marker() -> impl Strategy<Value = Term> {
    prop_oneof![
        "[0-9]{1,6}".prop_map(|s| Term::Literal(Literal::Integer(s))),
        marker().prop_map(Term::Bind)
    ]
}

fn operator() -> impl Strategy<Value = Operator> {
    proptest::sample::select(vec![
        Operator::Eq,
        Operator::Ne,
        Operator::Lt,
        Operator::Le,
        Operator::Gt,
        Operator::Ge,
        Operator::Like,
        Operator::Contains,
        Operator::ContainsKey,
    ])
}

fn relation() -> impl Strategy<Value = Relation> {
    let target = prop_oneof![
        3 => ident().prop_map(RelationTarget::Column),
        1 => (ident(), term()).prop_map(|(column, key)| RelationTarget::Element { column, key }),
        1 => (ident(), ident()).prop_map(|(column, field)| RelationTarget::Field { column, field }),
        1 => proptest::collection::vec(ident(), 1..3).prop_map(RelationTarget::Tuple),
        1 => proptest::collection::vec(ident(), 1..3).prop_map(RelationTarget::Token),
    ];
    prop_oneof![
        4 => (target.clone(), operator(), term()).prop_map(|(target, op, value)| Relation::Compare { target, op, value }),
        1 => (target.clone(), proptest::collection::vec(term(), 0..3))
            .prop_map(|(target, v)| Relation::In { target, values: InValues::List(v) }),
        1 => (target, marker()).prop_map(|(target, m)| Relation::In { target, values: InValues::Marker(m) }),
        1 => ident().prop_map(|column| Relation::IsNotNull { column }),
        1 => ident().prop_map(|column| Relation::IsNull { column }),
    ]
}

fn selector() -> impl Strategy<Value = Selector> {
    // Terms that are selectors on their own: not tuples (a parenthesised selector) and not
    // function calls (a function selector).
    let selector_term = term().prop_filter("tuple or call", |t| {
        !matches!(t, Term::Tuple(_) | Term::Function { .. })
    });
    let leaf = prop_oneof![
        4 => ident().prop_map(Selector::Column),
        2 => selector_term.prop_map(Selector::Term),
        1 => Just(Selector::CountStar),
        1 => ident().prop_map(Selector::WriteTime),
        1 => ident().prop_map(Selector::MaxWriteTime),
        1 => ident().prop_map(Selector::Ttl),
    ];
    let op = proptest::sample::select(vec![
        ArithOp::Add,
        ArithOp::Sub,
        ArithOp::Mul,
        ArithOp::Div,
        ArithOp::Mod,
    ]);
    leaf.prop_recursive(3, 12, 3, move |inner| {
        prop_oneof![
            (qname(), proptest::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Selector::Function { name, args }),
            (inner.clone(), cql_type()).prop_map(|(s, ty)| Selector::Cast {
                selector: Box::new(s),
                ty
            }),
            (inner.clone(), ident()).prop_map(|(s, field)| Selector::Field {
                selector: Box::new(s),
                field
            }),
            (inner.clone(), term()).prop_map(|(s, key)| Selector::Element {
                selector: Box::new(s),
                key
            }),
            (
                inner.clone(),
                proptest::option::of(term()),
                proptest::option::of(term())
            )
                .prop_map(|(s, from, to)| Selector::Slice {
                    selector: Box::new(s),
                    from,
                    to
                }),
            (op.clone(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| {
                Selector::Arithmetic {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            }),
            inner.prop_map(|s| Selector::Negate(Box::new(s))),
        ]
    })
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![Just(Order::Asc), Just(Order::Desc)]
}

fn select() -> impl Strategy<Value = Statement> {
    let items = proptest::collection::vec(
        (selector(), proptest::option::of(ident()))
            .prop_map(|(selector, alias)| SelectItem { selector, alias }),
        1..4,
    );
    let selection =
        prop_oneof![1 => Just(Selection::Wildcard), 4 => items.prop_map(Selection::Items)];
    (
        (any::<bool>(), any::<bool>(), selection, qname()),
        proptest::collection::vec(relation(), 0..3),
        proptest::collection::vec(ident(), 0..2),
        proptest::collection::vec((ident(), order()), 0..2),
        (
            proptest::option::of(int_or_marker()),
            proptest::option::of(int_or_marker()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (json, distinct, selection, table),
                where_clause,
                group_by,
                order_by,
                (ppl, limit, af),
            )| {
                Statement::Select(Box::new(Select {
                    json,
                    distinct,
                    selection,
                    table,
                    where_clause,
                    group_by,
                    order_by,
                    per_partition_limit: ppl,
                    limit,
                    allow_filtering: af,
                }))
            },
        )
}

fn using(allow_ttl: bool) -> impl Strategy<Value = Vec<UsingParam>> {
    let p = prop_oneof![
        int_or_marker().prop_map(UsingParam::Timestamp),
        int_or_marker().prop_map(move |t| if allow_ttl {
            UsingParam::Ttl(t)
        } else {
            UsingParam::Timestamp(t)
        }),
    ];
    proptest::collection::vec(p, 0..3)
}

fn condition() -> impl Strategy<Value = Option<Condition>> {
    proptest::option::of(prop_oneof![
        Just(Condition::Exists),
        proptest::collection::vec(relation(), 1..3).prop_map(Condition::Relations),
    ])
}

fn insert() -> impl Strategy<Value = Statement> {
    let values = prop_oneof![
        3 => proptest::collection::vec((ident(), term()), 1..4).prop_map(|pairs| {
            let (columns, values) = pairs.into_iter().unzip();
            InsertValues::Columns { columns, values }
        }),
        1 => (
            prop_oneof![
                "[ -~]{0,12}".prop_map(|s| Term::Literal(Literal::String(s))),
                marker().prop_map(Term::Bind)
            ],
            proptest::option::of(prop_oneof![Just(JsonDefault::Null), Just(JsonDefault::Unset)]),
        )
            .prop_map(|(value, default)| InsertValues::Json { value, default }),
    ];
    (qname(), values, any::<bool>(), using(true)).prop_map(
        |(table, values, if_not_exists, using)| {
            Statement::Insert(Box::new(Insert {
                table,
                values,
                if_not_exists,
                using,
            }))
        },
    )
}

fn assignment() -> impl Strategy<Value = Assignment> {
    prop_oneof![
        (ident(), term()).prop_map(|(column, value)| Assignment::Set { column, value }),
        (ident(), term(), term()).prop_map(|(column, key, value)| Assignment::SetElement {
            column,
            key,
            value
        }),
        (ident(), ident(), term()).prop_map(|(column, field, value)| Assignment::SetField {
            column,
            field,
            value
        }),
        (ident(), term()).prop_map(|(column, value)| Assignment::Append { column, value }),
        (ident(), term()).prop_map(|(column, value)| Assignment::Prepend { column, value }),
        (ident(), term()).prop_map(|(column, value)| Assignment::Remove { column, value }),
    ]
}

fn update() -> impl Strategy<Value = Statement> {
    (
        qname(),
        using(true),
        proptest::collection::vec(assignment(), 1..3),
        proptest::collection::vec(relation(), 1..3),
        condition(),
    )
        .prop_map(|(table, using, assignments, where_clause, condition)| {
            Statement::Update(Box::new(Update {
                table,
                using,
                assignments,
                where_clause,
                condition,
            }))
        })
}

fn delete() -> impl Strategy<Value = Statement> {
    let target = prop_oneof![
        ident().prop_map(DeleteTarget::Column),
        (ident(), term()).prop_map(|(column, key)| DeleteTarget::Element { column, key }),
        (ident(), ident()).prop_map(|(column, field)| DeleteTarget::Field { column, field }),
    ];
    (
        proptest::collection::vec(target, 0..3),
        qname(),
        using(false),
        proptest::collection::vec(relation(), 1..3),
        condition(),
    )
        .prop_map(|(targets, table, using, where_clause, condition)| {
            Statement::Delete(Box::new(Delete {
                targets,
                table,
                using,
                where_clause,
                condition,
            }))
        })
}

fn property() -> impl Strategy<Value = Property> {
    let value = prop_oneof![
        3 => literal().prop_map(PropertyValue::Literal),
        2 => proptest::collection::vec((literal(), literal()), 0..3).prop_map(PropertyValue::Map),
        1 => proptest::sample::select(vec!["all", "none", "keys", "rows_only"]).prop_map(|w| PropertyValue::Word(w.into())),
    ];
    (ident(), value).prop_map(|(name, value)| Property { name, value })
}

fn create_table() -> impl Strategy<Value = Statement> {
    let column = (ident(), cql_type(), any::<bool>(), any::<bool>()).prop_map(
        |(name, ty, is_static, primary_key)| ColumnDef {
            name,
            ty,
            is_static,
            primary_key,
        },
    );
    let pk = (
        proptest::collection::vec(ident(), 1..3),
        proptest::collection::vec(ident(), 0..3),
    )
        .prop_map(|(partition, clustering)| PrimaryKey {
            partition,
            clustering,
        });
    let options = (
        proptest::collection::vec(property(), 0..3),
        proptest::collection::vec((ident(), order()), 0..2),
        any::<bool>(),
    )
        .prop_map(
            |(properties, clustering_order, compact_storage)| TableOptions {
                properties,
                clustering_order,
                compact_storage,
            },
        );
    (
        qname(),
        any::<bool>(),
        proptest::collection::vec(column, 1..5),
        proptest::option::of(pk),
        options,
    )
        .prop_map(|(name, if_not_exists, columns, primary_key, options)| {
            Statement::CreateTable(Box::new(CreateTable {
                name,
                if_not_exists,
                columns,
                primary_key,
                options,
            }))
        })
}

fn statement() -> impl Strategy<Value = Statement> {
    prop_oneof![select(), insert(), update(), delete(), create_table()]
}

fn check_round_trip(generated: &Statement) -> Result<(), TestCaseError> {
    let printed = generated.to_string();
    let parsed = parse_statement(&printed)
        .map_err(|e| TestCaseError::fail(format!("{printed}\n  does not parse: {e}")))?;
    prop_assert_eq!(
        parsed.statement.to_string(),
        printed.clone(),
        "print(parse(print(ast))) differs"
    );
    let again = parse_statement(&parsed.statement.to_string())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again.statement, &parsed.statement);
    let indices: Vec<usize> = parsed.bind_markers.iter().map(|m| m.index).collect();
    prop_assert_eq!(indices, (0..parsed.bind_markers.len()).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn generated_statements_survive_print_then_parse() {
    // Seeded and bounded: replayable, and fast enough for every run.
    let config = Config {
        cases: std::env::var("CQL_RT_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(768),
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(
        RngAlgorithm::ChaCha,
        &[std::env::var("CQL_RT_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(7); 32],
    );
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner.run(&statement(), |s| check_round_trip(&s)).unwrap();
}

#[test]
fn a_script_of_printed_statements_parses_back_statement_by_statement() {
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&proptest::collection::vec(statement(), 1..5), |stmts| {
            let script: String = stmts.iter().map(|s| format!("{s};\n")).collect();
            let parsed = parse_statements(&script)
                .map_err(|e| TestCaseError::fail(format!("{script}\n{e}")))?;
            prop_assert_eq!(parsed.len(), stmts.len());
            for (p, s) in parsed.iter().zip(&stmts) {
                prop_assert_eq!(p.statement.to_string(), s.to_string());
                prop_assert_eq!(&script[p.span.clone()], p.text.as_str());
            }
            Ok(())
        })
        .unwrap();
}
