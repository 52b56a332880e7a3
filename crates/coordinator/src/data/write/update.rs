//! UPDATE into mutations: assignments, collection operations, IN on keys.

use super::*;

/// UPDATE ... SET ... WHERE <full primary key>.
pub(crate) fn update<'a>(
    data: &dyn DataPath,
    ks: &'a Keyspace,
    table: &'a Table,
    s: &ilion_cql::language::ast::Update,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Vec<TableWrite<'a>>> {
    let t = Target { ks, table, bound };
    let eqs = t.equalities(&s.where_clause)?;
    let now = now_seconds();
    let (timestamp, ttl) = t.write_params(&s.using, params, now)?;
    let pks = t.key_from(&eqs, ColumnKind::PartitionKey, false)?;
    for (n, _) in &eqs {
        let c = t.column(n)?;
        if !matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Non PRIMARY KEY columns found in where clause: {n}"
            )));
        }
    }
    // Like Cassandra, an UPDATE of only static columns needs no clustering key.
    let static_only = !s.assignments.is_empty()
        && s.assignments.iter().all(|a| {
            t.column(assignment_column(a).0.as_str())
                .is_ok_and(|c| c.kind == ColumnKind::Static)
        });
    let ck_given = eqs
        .iter()
        .any(|(n, _)| t.column(n).is_ok_and(|c| c.kind == ColumnKind::Clustering));
    let cks = if static_only && !ck_given {
        vec![Vec::new()]
    } else {
        t.key_from(&eqs, ColumnKind::Clustering, false)?
    };
    check_in_keys(pks.len(), cks.len())?;
    let schema = data.table_schema(table)?;
    let mut writes = Vec::with_capacity(pks.len());
    // One mutation per partition key; IN on the clustering columns gives it several rows.
    for pk in &pks {
        let (token, key) = t.partition(pk)?;
        let mut m = Mutation::new(token, key.clone(), now);
        for ck in &cks {
            let w = Writer {
                data,
                schema: schema.clone(),
                t: Target { ks, table, bound },
                timestamp,
                ttl,
                now,
                consistency: params.consistency,
                token,
                key: key.clone(),
                clustering: ck.iter().map(|b| b.to_vec()).collect(),
            };
            let mut static_cells = Vec::new();
            let mut row_cells = Vec::new();
            for a in &s.assignments {
                let c = w.t.column(assignment_column(a).0.as_str())?;
                if c.kind == ColumnKind::Static {
                    w.assign(a, &mut static_cells)?;
                } else {
                    if static_only {
                        continue;
                    }
                    w.assign(a, &mut row_cells)?;
                }
            }
            // Static cells belong to the partition: set once, whichever rows the IN names.
            if m.static_cells.is_empty() {
                m.static_cells = static_cells;
            }
            if !row_cells.is_empty() {
                m.row(w.clustering.clone()).cells = row_cells;
            }
        }
        writes.push(TableWrite {
            keyspace: ks,
            table,
            mutation: m,
        });
    }
    // After the assignments, as Cassandra validates a statement once it is prepared.
    check_counter_using(table, &s.using)?;
    Ok(writes)
}
