//! Fuzz target for the CQL language (`ilion-cql`'s `language` module): lexer and parser.

/// CQL text out of arbitrary bytes (UTF-8, lossily). Parsing must never panic; every
/// statement that parses must print as CQL that parses back to the same AST, bind marker
/// numbering included.
pub fn cql_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = ilion_cql::parse_statement(&text);
    let Ok(statements) = ilion_cql::parse_statements(&text) else {
        return;
    };
    for parsed in statements {
        let printed = parsed.statement.to_string();
        let again = match ilion_cql::parse_statement(&printed) {
            Ok(again) => again,
            Err(e) => panic!(
                "printed statement does not parse: {e}\n  source:  {}\n  printed: {printed}",
                parsed.text
            ),
        };
        assert_eq!(
            again.statement, parsed.statement,
            "round trip changed the AST\n  source:  {}\n  printed: {printed}",
            parsed.text
        );
        assert_eq!(
            again.bind_markers, parsed.bind_markers,
            "printed: {printed}"
        );
    }
}
