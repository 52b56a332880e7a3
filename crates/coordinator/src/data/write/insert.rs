//! INSERT (values or JSON) into mutations.

use super::*;

/// INSERT INTO ... (cols) VALUES (...) | JSON '...' [USING ...].
pub(crate) fn insert<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &Insert,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    if table.is_counter() {
        return Err(Error::invalid(
            "INSERT statements are not allowed on counter tables, use UPDATE instead",
        ));
    }
    let t = Target { ks, table, bound };
    // Every column the statement gives, with its value.
    let mut given: Vec<(&Column, Given)> = Vec::new();
    match &s.values {
        InsertValues::Columns { columns, values } => {
            if columns.len() != values.len() {
                return Err(Error::invalid("Unmatched column names/values"));
            }
            for (name, term) in columns.iter().zip(values) {
                let c = t.column(name.as_str())?;
                if given.iter().any(|(g, _)| g.name == c.name) {
                    return Err(Error::invalid(format!(
                        "Multiple definitions found for column {}",
                        c.name
                    )));
                }
                let g = if bound.is_unset(term) {
                    Given::Unset
                } else {
                    Given::Value(column_value(term, &c.ty.column_type(ks), bound, &c.name)?)
                };
                given.push((c, g));
            }
        }
        InsertValues::Json { value, default } => {
            let text = match term_value(value, &CqlType::Text, bound)? {
                Some(Value::Text(text)) => text,
                _ => return Err(Error::invalid("Got null for INSERT JSON values")),
            };
            let json::Json::Object(entries) = json::parse(&text)? else {
                return Err(Error::invalid(format!(
                    "Could not decode JSON string as a map: {text}"
                )));
            };
            for (key, j) in &entries {
                let name = json::key_name(key);
                let c = table.column(&name).ok_or_else(|| {
                    Error::invalid(format!(
                        "JSON values map contains unrecognized column: {name}"
                    ))
                })?;
                let v = json::value_of(j, &c.ty.column_type(ks))?;
                given.retain(|(g, _)| g.name != c.name);
                given.push((c, Given::Value(v)));
            }
            if *default != Some(JsonDefault::Unset) {
                for c in &table.columns {
                    let key = matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering);
                    if !key && !given.iter().any(|(g, _)| g.name == c.name) {
                        given.push((c, Given::Value(None)));
                    }
                }
            }
        }
    }
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let key_values = |kind: ColumnKind| -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for c in t.key_columns(kind) {
            match given.iter().find(|(g, _)| g.name == c.name) {
                Some((_, g)) => out.push(key_bytes(&t, c, g)?),
                None => {
                    return Err(Error::invalid(format!(
                        "Some {} columns are missing: {}",
                        if kind == ColumnKind::PartitionKey {
                            "partition key"
                        } else {
                            "clustering"
                        },
                        c.name
                    )));
                }
            }
        }
        Ok(out)
    };
    let pk = key_values(ColumnKind::PartitionKey)?;
    // Like Cassandra, an INSERT of only static columns may leave out the clustering columns.
    let static_only = given.iter().any(|(c, _)| c.kind == ColumnKind::Static)
        && given
            .iter()
            .all(|(c, _)| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Static));
    let clustering_given = given.iter().any(|(c, _)| c.kind == ColumnKind::Clustering);
    let ck = if static_only && !clustering_given {
        Vec::new()
    } else {
        key_values(ColumnKind::Clustering)?
    };
    let pk: Vec<Bytes> = pk.into_iter().map(Bytes::from).collect();
    let (token, key) = t.partition(&pk)?;
    let w = Writer {
        data,
        schema: data.table_schema(table)?,
        t: Target { ks, table, bound },
        timestamp,
        ttl,
        now,
        consistency: params.consistency,
        token,
        key: key.clone(),
        clustering: ck.clone(),
    };
    let mut m = Mutation::new(token, key, now);
    let mut row_cells = Vec::new();
    for (c, g) in given {
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            continue;
        }
        let Given::Value(v) = g else { continue };
        if c.kind == ColumnKind::Static {
            w.set_whole(c, v, &mut m.static_cells)?;
        } else {
            w.set_whole(c, v, &mut row_cells)?;
        }
    }
    if !ck.is_empty() || !row_cells.is_empty() || m.static_cells.is_empty() {
        let row = m.row(ck);
        row.marker = Some(Liveness { timestamp, ttl });
        row.cells = row_cells;
    }
    Ok(vec![TableWrite {
        keyspace: ks,
        table,
        mutation: m,
    }])
}
