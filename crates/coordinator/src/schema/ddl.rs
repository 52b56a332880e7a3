//! Schema statements applied to a [`Schema`]: each returns the change it made, or `None` when
//! an `IF [NOT] EXISTS` made it a no-op. Validation follows Cassandra's messages.

use std::collections::{BTreeMap, BTreeSet};

use ilion_cql::language::ast::{
    AlterKeyspace, AlterTable, AlterTableOp, AlterType, AlterTypeOp, CreateKeyspace, CreateTable,
    CreateType, Drop, DropKeyspace, Ident, Literal, Order, QualifiedName,
};
use ilion_cql::protocol::{ChangeType, SchemaChange, SchemaTarget};
use uuid::Uuid;

use super::options::{TableParams, keyspace_options};
use super::{
    ClusteringOrder, Column, ColumnKind, CqlType, DroppedColumn, Keyspace, Schema, Table, UserType,
    is_replicated_system_keyspace, is_system_keyspace,
};
use crate::{Error, Result};

fn change(change: ChangeType, target: SchemaTarget) -> Option<SchemaChange> {
    Some(SchemaChange { change, target })
}

fn refuse_system(keyspace: &str) -> Result<()> {
    if is_system_keyspace(keyspace) {
        return Err(Error::Invalid {
            message: format!("{keyspace} keyspace is not user-modifiable"),
        });
    }
    Ok(())
}

/// The keyspace a possibly qualified name lives in.
pub(crate) fn keyspace_of(name: &QualifiedName, session: Option<&str>) -> Result<String> {
    match (&name.keyspace, session) {
        (Some(k), _) => Ok(k.as_str().to_owned()),
        (None, Some(k)) => Ok(k.to_owned()),
        (None, None) => Err(Error::invalid(
            "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename",
        )),
    }
}

fn keyspace_mut<'a>(schema: &'a mut Schema, name: &str) -> Result<&'a mut Keyspace> {
    schema
        .keyspaces
        .get_mut(name)
        .ok_or_else(|| Error::invalid(format!("Keyspace '{name}' does not exist")))
}

pub(crate) fn create_keyspace(
    schema: &mut Schema,
    s: &CreateKeyspace,
    datacenters: &[String],
) -> Result<Option<SchemaChange>> {
    let name = s.name.as_str();
    validate_name("Keyspace", name)?;
    refuse_system(name)?;
    let opts = keyspace_options(name, &s.options, datacenters)?;
    if schema.keyspaces.contains_key(name) {
        if s.if_not_exists {
            return Ok(None);
        }
        return Err(Error::AlreadyExists {
            keyspace: name.to_owned(),
            table: String::new(),
            message: format!("Cannot add existing keyspace \"{name}\""),
        });
    }
    let replication = opts
        .replication
        .ok_or_else(|| Error::config("Missing mandatory option 'replication'"))?;
    schema.keyspaces.insert(
        name.to_owned(),
        Keyspace {
            name: name.to_owned(),
            durable_writes: opts.durable_writes.unwrap_or(true),
            replication,
            tables: BTreeMap::new(),
            types: BTreeMap::new(),
        },
    );
    Ok(change(
        ChangeType::Created,
        SchemaTarget::Keyspace {
            keyspace: name.to_owned(),
        },
    ))
}

pub(crate) fn alter_keyspace(
    schema: &mut Schema,
    s: &AlterKeyspace,
    datacenters: &[String],
) -> Result<Option<SchemaChange>> {
    let name = s.name.as_str();
    if !is_replicated_system_keyspace(name) {
        refuse_system(name)?;
    }
    let opts = keyspace_options(name, &s.options, datacenters)?;
    if is_replicated_system_keyspace(name) && opts.durable_writes == Some(false) {
        return Err(Error::config(format!(
            "durable_writes = false is not allowed on the {name} keyspace: its rows (roles, \
             permissions) must survive a crash"
        )));
    }
    // A replicated system keyspace keeps the node's own tables; only its replication and
    // durable_writes are the cluster's schema.
    let altered = match schema.replicated_system.get_mut(name) {
        Some(ks) => Some(ks),
        None => schema.keyspaces.get_mut(name),
    };
    let Some(ks) = altered else {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!("Keyspace '{name}' does not exist")));
    };
    if let Some(r) = opts.replication {
        ks.replication = r;
    }
    if let Some(d) = opts.durable_writes {
        ks.durable_writes = d;
    }
    Ok(change(
        ChangeType::Updated,
        SchemaTarget::Keyspace {
            keyspace: name.to_owned(),
        },
    ))
}

pub(crate) fn drop_keyspace(schema: &mut Schema, s: &DropKeyspace) -> Result<Option<SchemaChange>> {
    let name = s.name.as_str();
    refuse_system(name)?;
    if schema.keyspaces.remove(name).is_none() {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!("Keyspace '{name}' doesn't exist")));
    }
    Ok(change(
        ChangeType::Dropped,
        SchemaTarget::Keyspace {
            keyspace: name.to_owned(),
        },
    ))
}

fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 48
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::invalid(format!(
            "{what} name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got \"{name}\")"
        )));
    }
    Ok(())
}

fn table_target(keyspace: &str, name: &str) -> SchemaTarget {
    SchemaTarget::Table {
        keyspace: keyspace.to_owned(),
        name: name.to_owned(),
    }
}

pub(crate) fn create_table(
    schema: &mut Schema,
    s: &CreateTable,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    create_table_in(schema, s, ks_name)
}

/// Defines one of the node's own tables (`system.local`, ...).
pub(crate) fn create_system_table(schema: &mut Schema, s: &CreateTable) -> Result<()> {
    let ks_name = keyspace_of(&s.name, None)?;
    create_table_in(schema, s, ks_name).map(|_| ())
}

fn create_table_in(
    schema: &mut Schema,
    s: &CreateTable,
    ks_name: String,
) -> Result<Option<SchemaChange>> {
    let name = s.name.name.as_str();
    let ks = keyspace_mut(schema, &ks_name)?;
    validate_name("Table", name)?;
    if ks.tables.contains_key(name) {
        if s.if_not_exists {
            return Ok(None);
        }
        return Err(Error::AlreadyExists {
            keyspace: ks_name.clone(),
            table: name.to_owned(),
            message: format!(
                "Cannot add already existing table \"{name}\" to keyspace \"{ks_name}\""
            ),
        });
    }
    if s.options.compact_storage {
        return Err(Error::invalid(
            "COMPACT STORAGE tables are not supported starting with version 4.0",
        ));
    }

    // The primary key: one inline declaration or one PRIMARY KEY clause.
    let inline: Vec<&Ident> = s
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| &c.name)
        .collect();
    let (partition, clustering): (Vec<Ident>, Vec<Ident>) =
        match (&s.primary_key, inline.as_slice()) {
            (Some(pk), []) => (pk.partition.clone(), pk.clustering.clone()),
            (None, [one]) => (vec![(*one).clone()], Vec::new()),
            (None, []) => {
                return Err(Error::invalid(format!(
                    "No PRIMARY KEY specifed for table '{name}' (exactly one required)"
                )));
            }
            _ => {
                return Err(Error::invalid(format!(
                    "Multiple PRIMARY KEY specified for table '{name}' (exactly one required)"
                )));
            }
        };

    let mut columns: Vec<Column> = Vec::with_capacity(s.columns.len());
    for def in &s.columns {
        let cname = def.name.as_str();
        if columns.iter().any(|c| c.name == cname) {
            return Err(Error::invalid(format!(
                "Duplicate column '{cname}' declaration for table {ks_name}.{name}"
            )));
        }
        let ty = crate::schema::types::resolve(&def.ty, ks)?;
        let (kind, position, order) = if let Some(i) = partition.iter().position(|p| p == &def.name)
        {
            (ColumnKind::PartitionKey, i as i32, ClusteringOrder::None)
        } else if let Some(i) = clustering.iter().position(|p| p == &def.name) {
            (ColumnKind::Clustering, i as i32, ClusteringOrder::Asc)
        } else if def.is_static {
            (ColumnKind::Static, -1, ClusteringOrder::None)
        } else {
            (ColumnKind::Regular, -1, ClusteringOrder::None)
        };
        if def.is_static && kind != ColumnKind::Static {
            return Err(Error::invalid(format!(
                "Static column {cname} cannot be part of the PRIMARY KEY"
            )));
        }
        if matches!(kind, ColumnKind::PartitionKey | ColumnKind::Clustering)
            && ty.is_multi_cell_collection()
        {
            return Err(Error::invalid(format!(
                "Invalid non-frozen collection type {ty} for PRIMARY KEY column '{cname}'"
            )));
        }
        if matches!(kind, ColumnKind::PartitionKey | ColumnKind::Clustering) && ty.is_counter() {
            return Err(Error::invalid(format!(
                "counter type is not supported for PRIMARY KEY column '{cname}'"
            )));
        }
        columns.push(Column {
            name: cname.to_owned(),
            kind,
            position,
            order,
            ty,
        });
    }
    for key in partition.iter().chain(&clustering) {
        if !columns.iter().any(|c| c.name == key.as_str()) {
            return Err(Error::invalid(format!(
                "Unknown column '{}' referenced in PRIMARY KEY for table '{name}'",
                key.as_str()
            )));
        }
    }
    let mut seen = BTreeSet::new();
    for key in partition.iter().chain(&clustering) {
        if !seen.insert(key.as_str()) {
            return Err(Error::invalid(format!(
                "Duplicate column '{}' in PRIMARY KEY of table '{name}'",
                key.as_str()
            )));
        }
    }
    if clustering.is_empty() && columns.iter().any(|c| c.kind == ColumnKind::Static) {
        return Err(Error::invalid(
            "Static columns are only useful (and thus allowed) if the table has at least one clustering column",
        ));
    }
    let order = &s.options.clustering_order;
    for (i, (col, dir)) in order.iter().enumerate() {
        let Some(pos) = clustering.iter().position(|c| c == col) else {
            return Err(Error::invalid(format!(
                "Only clustering key columns can be defined in CLUSTERING ORDER directive: {} is not",
                col.as_str()
            )));
        };
        if pos != i {
            return Err(Error::invalid(
                "The order of columns in the CLUSTERING ORDER directive must match that of the clustering columns",
            ));
        }
        if let Some(c) = columns.iter_mut().find(|c| c.name == col.as_str()) {
            c.order = match dir {
                Order::Asc => ClusteringOrder::Asc,
                Order::Desc => ClusteringOrder::Desc,
            };
        }
    }
    let mut params = TableParams::default();
    params.apply(&s.options.properties)?;
    // A counter table holds counters only, and they do not expire (Cassandra's checks).
    let non_key = || {
        columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Static | ColumnKind::Regular))
    };
    if non_key().any(|c| c.ty.is_counter()) {
        if non_key().any(|c| !c.ty.is_counter()) {
            return Err(Error::invalid(
                "Cannot mix counter and non counter columns in the same table",
            ));
        }
        if params.default_time_to_live > 0 {
            return Err(Error::invalid(
                "Cannot set default_time_to_live on a table with counters",
            ));
        }
    }
    let mut table = Table {
        keyspace: ks_name.clone(),
        name: name.to_owned(),
        id: Uuid::new_v4(),
        columns,
        params,
        dropped: Vec::new(),
    };
    table.sort_columns();
    ks.tables.insert(name.to_owned(), table);
    Ok(change(ChangeType::Created, table_target(&ks_name, name)))
}

pub(crate) fn alter_table(
    schema: &mut Schema,
    s: &AlterTable,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    let name = s.name.name.as_str();
    let ks = keyspace_mut(schema, &ks_name)?;
    if !ks.tables.contains_key(name) {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!(
            "Table '{ks_name}.{name}' doesn't exist"
        )));
    }
    let mut new_columns = Vec::new();
    if let AlterTableOp::Add { columns, .. } = &s.op {
        for def in columns {
            let ty = crate::schema::types::resolve(&def.ty, ks)?;
            new_columns.push((def, ty));
        }
    }
    let Some(table) = ks.tables.get_mut(name) else {
        return Err(Error::invalid(format!(
            "Table '{ks_name}.{name}' doesn't exist"
        )));
    };
    let has_clustering = table
        .columns
        .iter()
        .any(|c| c.kind == ColumnKind::Clustering);
    let is_counter = table.is_counter();
    match &s.op {
        AlterTableOp::Add { if_not_exists, .. } => {
            for (def, ty) in new_columns {
                let cname = def.name.as_str();
                if table.column(cname).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(Error::invalid(format!(
                        "Column with name '{cname}' already exists"
                    )));
                }
                // Cassandra's TableMetadata.validate, a Config error prefixed with the table.
                if is_counter && !ty.is_counter() {
                    return Err(Error::Config {
                        message: format!(
                            "{ks_name}.{name}: Cannot have a non counter column (\"{cname}\") in a counter table"
                        ),
                    });
                }
                if !is_counter && ty.is_counter() {
                    return Err(Error::Config {
                        message: format!(
                            "{ks_name}.{name}: Cannot have a counter column (\"{cname}\") in a non counter table"
                        ),
                    });
                }
                if def.is_static && !has_clustering {
                    return Err(Error::invalid(format!(
                        "Static columns are not allowed in COMPACT STORAGE tables or tables without clustering columns (column {cname})"
                    )));
                }
                let kind = if def.is_static {
                    ColumnKind::Static
                } else {
                    ColumnKind::Regular
                };
                table.columns.push(Column {
                    name: cname.to_owned(),
                    kind,
                    position: -1,
                    order: ClusteringOrder::None,
                    ty,
                });
            }
            table.sort_columns();
        }
        AlterTableOp::Drop {
            if_exists,
            columns,
            timestamp,
        } => {
            let dropped_at_micros = match timestamp {
                None => crate::statement_time::now_micros(),
                Some(Literal::Integer(n)) => n.parse::<i64>().map_err(|_| {
                    Error::invalid(format!("Invalid timestamp {n} for ALTER TABLE DROP"))
                })?,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "Invalid timestamp {other} for ALTER TABLE DROP"
                    )));
                }
            };
            for c in columns {
                let cname = c.as_str();
                match table.column(cname) {
                    None if *if_exists => continue,
                    None => {
                        return Err(Error::invalid(format!(
                            "Column {cname} was not found in table {name}"
                        )));
                    }
                    Some(col)
                        if matches!(
                            col.kind,
                            ColumnKind::PartitionKey | ColumnKind::Clustering
                        ) =>
                    {
                        return Err(Error::invalid(format!(
                            "Cannot drop PRIMARY KEY column {cname}"
                        )));
                    }
                    Some(col) => {
                        let record = DroppedColumn {
                            name: cname.to_owned(),
                            dropped_at_micros,
                            kind: col.kind,
                            ty: col.ty.clone(),
                        };
                        table.dropped.retain(|d| d.name != cname);
                        table.dropped.push(record);
                        table.columns.retain(|x| x.name != cname);
                    }
                }
            }
        }
        AlterTableOp::Rename { if_exists, renames } => {
            for (from, to) in renames {
                let (from, to) = (from.as_str(), to.as_str());
                match table.column(from) {
                    None if *if_exists => continue,
                    None => {
                        return Err(Error::invalid(format!(
                            "Column {from} was not found in table {ks_name}.{name}"
                        )));
                    }
                    Some(col)
                        if !matches!(
                            col.kind,
                            ColumnKind::PartitionKey | ColumnKind::Clustering
                        ) =>
                    {
                        return Err(Error::invalid(format!(
                            "Cannot rename non PRIMARY KEY column {from}"
                        )));
                    }
                    Some(_) => {}
                }
                if table.column(to).is_some() {
                    return Err(Error::invalid(format!(
                        "Cannot rename column {from} to {to} in table '{name}'; another column of that name already exist"
                    )));
                }
                if let Some(c) = table.columns.iter_mut().find(|c| c.name == from) {
                    c.name = to.to_owned();
                }
            }
            table.sort_columns();
        }
        AlterTableOp::AlterColumnType { .. } => {
            return Err(Error::invalid(
                "Altering column types is no longer supported",
            ));
        }
        AlterTableOp::With(options) => {
            if !options.clustering_order.is_empty() || options.compact_storage {
                return Err(Error::invalid(
                    "Cannot change the clustering order or COMPACT STORAGE of an existing table",
                ));
            }
            let mut params = table.params.clone();
            params.apply(&options.properties)?;
            if is_counter && params.default_time_to_live > 0 {
                return Err(Error::invalid(
                    "Cannot set default_time_to_live on a table with counters",
                ));
            }
            table.params = params;
        }
    }
    Ok(change(ChangeType::Updated, table_target(&ks_name, name)))
}

pub(crate) fn drop_table(
    schema: &mut Schema,
    s: &Drop,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    let name = s.name.name.as_str();
    let removed = match schema.keyspaces.get_mut(&ks_name) {
        Some(ks) => ks.tables.remove(name).is_some(),
        None if s.if_exists => false,
        None => {
            return Err(Error::invalid(format!(
                "Keyspace '{ks_name}' doesn't exist"
            )));
        }
    };
    if !removed {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!(
            "Table '{ks_name}.{name}' doesn't exist"
        )));
    }
    Ok(change(ChangeType::Dropped, table_target(&ks_name, name)))
}

fn type_target(keyspace: &str, name: &str) -> SchemaTarget {
    SchemaTarget::Type {
        keyspace: keyspace.to_owned(),
        name: name.to_owned(),
    }
}

pub(crate) fn create_type(
    schema: &mut Schema,
    s: &CreateType,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    let name = s.name.name.as_str();
    let ks = keyspace_mut(schema, &ks_name)?;
    if ks.types.contains_key(name) {
        if s.if_not_exists {
            return Ok(None);
        }
        return Err(Error::AlreadyExists {
            keyspace: ks_name.clone(),
            table: name.to_owned(),
            message: format!("A user type with name '{name}' already exists"),
        });
    }
    let mut fields: Vec<(String, CqlType)> = Vec::with_capacity(s.fields.len());
    for (f, ty) in &s.fields {
        if fields.iter().any(|(n, _)| n == f.as_str()) {
            return Err(Error::invalid(format!(
                "Duplicate field name {} in type {name}",
                f.as_str()
            )));
        }
        let ty = crate::schema::types::resolve(ty, ks)?;
        if ty.is_counter() {
            return Err(Error::invalid("A user type cannot contain counters"));
        }
        if ty.is_multi_cell_collection() {
            return Err(Error::invalid(format!(
                "Non-frozen collections are not allowed inside user types: {ty}"
            )));
        }
        fields.push((f.as_str().to_owned(), ty));
    }
    ks.types.insert(
        name.to_owned(),
        UserType {
            keyspace: ks_name.clone(),
            name: name.to_owned(),
            fields,
        },
    );
    Ok(change(ChangeType::Created, type_target(&ks_name, name)))
}

pub(crate) fn alter_type(
    schema: &mut Schema,
    s: &AlterType,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    let name = s.name.name.as_str();
    let ks = keyspace_mut(schema, &ks_name)?;
    let new_field_type = match &s.op {
        AlterTypeOp::Add { ty, .. } => Some(crate::schema::types::resolve(ty, ks)?),
        AlterTypeOp::Rename { .. } => None,
    };
    let Some(ut) = ks.types.get_mut(name) else {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!(
            "No user type named {ks_name}.{name} exists."
        )));
    };
    match (&s.op, new_field_type) {
        (
            AlterTypeOp::Add {
                if_not_exists,
                field,
                ..
            },
            Some(ty),
        ) => {
            if ut.fields.iter().any(|(n, _)| n == field.as_str()) {
                if *if_not_exists {
                    return Ok(None);
                }
                return Err(Error::invalid(format!(
                    "Cannot add new field {} to type {ks_name}.{name}: a field of the same name already exists",
                    field.as_str()
                )));
            }
            if ty.is_multi_cell_collection() {
                return Err(Error::invalid(
                    "Non-frozen collections are not allowed inside user types",
                ));
            }
            ut.fields.push((field.as_str().to_owned(), ty));
        }
        (AlterTypeOp::Rename { if_exists, renames }, _) => {
            for (from, to) in renames {
                let Some(i) = ut.fields.iter().position(|(n, _)| n == from.as_str()) else {
                    if *if_exists {
                        continue;
                    }
                    return Err(Error::invalid(format!(
                        "Unkown field {} in user type {ks_name}.{name}",
                        from.as_str()
                    )));
                };
                if ut.fields.iter().any(|(n, _)| n == to.as_str()) {
                    return Err(Error::invalid(format!(
                        "Duplicate field name {} in type {ks_name}.{name}",
                        to.as_str()
                    )));
                }
                if let Some(f) = ut.fields.get_mut(i) {
                    f.0 = to.as_str().to_owned();
                }
            }
        }
        (AlterTypeOp::Add { .. }, None) => {}
    }
    Ok(change(ChangeType::Updated, type_target(&ks_name, name)))
}

pub(crate) fn drop_type(
    schema: &mut Schema,
    s: &Drop,
    session: Option<&str>,
) -> Result<Option<SchemaChange>> {
    let ks_name = keyspace_of(&s.name, session)?;
    refuse_system(&ks_name)?;
    let name = s.name.name.as_str();
    let ks = keyspace_mut(schema, &ks_name)?;
    if !ks.types.contains_key(name) {
        if s.if_exists {
            return Ok(None);
        }
        return Err(Error::invalid(format!(
            "No user type named {ks_name}.{name} exists."
        )));
    }
    for t in ks.tables.values() {
        if t.columns
            .iter()
            .any(|c| super::types::uses_type(&c.ty, name))
        {
            return Err(Error::invalid(format!(
                "Cannot drop user type {ks_name}.{name} as it is still used by table {ks_name}.{}",
                t.name
            )));
        }
    }
    for u in ks.types.values() {
        if u.name != name
            && u.fields
                .iter()
                .any(|(_, t)| super::types::uses_type(t, name))
        {
            return Err(Error::invalid(format!(
                "Cannot drop user type {ks_name}.{name} as it is still used by user type {}",
                u.name
            )));
        }
    }
    ks.types.remove(name);
    Ok(change(ChangeType::Dropped, type_target(&ks_name, name)))
}
