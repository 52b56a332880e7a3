//! The cells one statement writes into one partition: whole values, collection and user-type
//! elements, counters of list positions, and the deletions that go with them.

use super::*;

/// What one statement writes into one partition: its write parameters and the row it targets.
pub(super) struct Writer<'a> {
    pub(super) data: &'a dyn DataPath,
    pub(super) t: Target<'a>,
    pub(super) schema: std::sync::Arc<TableSchema>,
    pub(super) timestamp: i64,
    pub(super) ttl: Option<Ttl>,
    pub(super) now: i64,
    pub(super) consistency: Consistency,
    pub(super) token: i64,
    pub(super) key: Vec<u8>,
    pub(super) clustering: Vec<Vec<u8>>,
}

impl Writer<'_> {
    pub(super) fn id(&self, c: &Column) -> Result<u16> {
        self.schema
            .column_id(&c.name)
            .ok_or_else(|| Error::server(format!("column {} missing from storage", c.name)))
    }

    pub(super) fn set_cell(&self, id: u16, path: Option<Vec<u8>>, value: Bytes) -> CellWrite {
        CellWrite {
            column: id,
            path,
            op: CellOp::Set {
                timestamp: self.timestamp,
                value: value.to_vec(),
                ttl: self.ttl,
            },
        }
    }

    pub(super) fn delete_cell(&self, id: u16, path: Option<Vec<u8>>) -> CellWrite {
        CellWrite {
            column: id,
            path,
            op: CellOp::Delete(Deletion::new(self.timestamp, self.now)),
        }
    }

    pub(super) fn column_type(&self, c: &Column) -> CqlType {
        c.ty.column_type(self.t.ks)
    }

    /// `c = value` (INSERT and UPDATE): the whole value of the column.
    pub(super) fn set_whole(
        &self,
        c: &Column,
        value: Option<Value>,
        out: &mut Vec<CellWrite>,
    ) -> Result<()> {
        let id = self.id(c)?;
        let ty = self.column_type(c);
        if !is_multi_cell(&c.ty) {
            let bytes = value.map(|v| encode(&ty, &v)).transpose()?;
            out.push(match bytes {
                Some(b) => self.set_cell(id, None, b),
                None => self.delete_cell(id, None),
            });
            return Ok(());
        }
        out.push(CellWrite {
            column: id,
            path: None,
            op: CellOp::DeleteCollection(Deletion::new(self.timestamp - 1, self.now)),
        });
        match value {
            None => Ok(()),
            Some(v) => self.add_elements(c, &ty, v, false, out),
        }
    }

    /// The cells of the elements of `v` added to a multi-cell column (`c = c + v`, or after
    /// the tombstone of a whole write); `prepend` puts list elements first.
    pub(super) fn add_elements(
        &self,
        c: &Column,
        ty: &CqlType,
        v: Value,
        prepend: bool,
        out: &mut Vec<CellWrite>,
    ) -> Result<()> {
        let id = self.id(c)?;
        match (ty, v) {
            (CqlType::List { element: e, .. }, Value::List(items)) => {
                let paths = if prepend {
                    prepend_timeuuids(items.len())
                } else {
                    append_timeuuids(items.len())
                };
                for (path, item) in paths.into_iter().zip(items) {
                    out.push(self.set_cell(id, Some(path.to_vec()), encode(e, &item)?));
                }
            }
            (CqlType::Set { element: e, .. }, Value::Set(items)) => {
                for item in items {
                    out.push(self.set_cell(id, Some(encode(e, &item)?.to_vec()), Bytes::new()));
                }
            }
            (
                CqlType::Map {
                    key: kt, value: vt, ..
                },
                Value::Map(entries),
            ) => {
                for (k, v) in entries {
                    out.push(self.set_cell(id, Some(encode(kt, &k)?.to_vec()), encode(vt, &v)?));
                }
            }
            (CqlType::Udt(u), Value::Udt(fields)) => {
                for (i, ((_, v), (_, fty))) in fields.into_iter().zip(&u.fields).enumerate() {
                    if let Some(v) = v {
                        out.push(self.set_cell(id, Some(field_path(i)?), encode(fty, &v)?));
                    }
                }
            }
            (ty, v) => {
                return Err(Error::invalid(format!(
                    "Invalid value {} for column {} of type {ty}",
                    v.kind(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// The live elements of list column `c` in this row, in list order: `(path, value)`.
    pub(super) fn current_list(&self, c: &Column) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let id = self.id(c)?;
        let mut cmd = ReadCommand::partition(self.token, self.key.clone());
        if c.kind == ColumnKind::Static {
            cmd.limit = Some(1);
        } else {
            cmd.slice = Slice {
                start: SBound::Inclusive(self.clustering.clone()),
                end: SBound::Inclusive(self.clustering.clone()),
            };
        }
        let result = self
            .data
            .read(self.t.ks, self.t.table, &cmd, self.consistency)?;
        let Some(p) = result.partitions.first() else {
            return Ok(Vec::new());
        };
        let cells = if c.kind == ColumnKind::Static {
            &p.static_cells
        } else {
            match p.rows.iter().find(|r| r.clustering == self.clustering) {
                Some(r) => &r.cells,
                None => return Ok(Vec::new()),
            }
        };
        Ok(list_elements(cells.iter().filter(|cd| cd.column == id)))
    }

    /// The path of element `index` of list column `c`, read from the row.
    pub(super) fn list_index_path(
        &self,
        c: &Column,
        index: Option<Value>,
        op: &str,
    ) -> Result<Vec<u8>> {
        let Some(Value::Int(i)) = index else {
            return Err(Error::invalid("Invalid null value for list index"));
        };
        let list = self.current_list(c)?;
        if list.is_empty() {
            return Err(Error::invalid(format!(
                "Attempted to {op} an element on a list which is null"
            )));
        }
        usize::try_from(i)
            .ok()
            .and_then(|i| list.get(i))
            .map(|(p, _)| p.clone())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "List index {i} out of bound, list has size {}",
                    list.len()
                ))
            })
    }

    /// One SET assignment of an UPDATE.
    pub(super) fn assign(&self, a: &Assignment, out: &mut Vec<CellWrite>) -> Result<()> {
        let bound = self.t.bound;
        let (column, shown) = assignment_column(a);
        let c = self.t.column(column.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "PRIMARY KEY part {} found in SET part",
                c.name
            )));
        }
        if c.ty.is_counter() {
            return self.assign_counter(a, c, &shown, out);
        }
        let ty = self.column_type(c);
        let multi = is_multi_cell(&c.ty);
        let invalid_op = || {
            // Tuples are frozen too, but not "frozen collections".
            let frozen = c.ty.is_frozen() && !matches!(c.ty, CqlType::Tuple(_));
            let what = match (frozen, &ty) {
                (true, CqlType::Udt(_)) => "frozen UDT column",
                (true, _) => "frozen collection column",
                (_, CqlType::List { .. } | CqlType::Set { .. } | CqlType::Map { .. }) => {
                    "collection column"
                }
                (_, CqlType::Udt(_)) => "UDT column",
                _ => "non counter column",
            };
            Error::invalid(format!("Invalid operation ({shown}) for {what} {}", c.name))
        };
        let id = self.id(c)?;
        match a {
            Assignment::Set { value, .. } => {
                if bound.is_unset(value) {
                    return Ok(());
                }
                self.set_whole(c, column_value(value, &ty, bound, &c.name)?, out)
            }
            Assignment::Append { value, .. } | Assignment::Prepend { value, .. } => {
                let prepend = matches!(a, Assignment::Prepend { .. });
                let ok = multi
                    && match ty {
                        CqlType::List { .. } => true,
                        CqlType::Set { .. } | CqlType::Map { .. } => !prepend,
                        _ => false,
                    };
                if !ok {
                    return Err(invalid_op());
                }
                if bound.is_unset(value) {
                    return Ok(());
                }
                match term_value(value, &ty, bound)? {
                    None => Ok(()),
                    Some(v) => self.add_elements(c, &ty, v, prepend, out),
                }
            }
            Assignment::Remove { value, .. } => {
                if !multi || matches!(ty, CqlType::Udt(_)) {
                    return Err(invalid_op());
                }
                if bound.is_unset(value) {
                    return Ok(());
                }
                match &ty {
                    CqlType::List { element: e, .. } => {
                        let Some(Value::List(items)) = term_value(value, &ty, bound)? else {
                            return Ok(());
                        };
                        let discard = items
                            .iter()
                            .map(|v| encode(e, v).map(|b| b.to_vec()))
                            .collect::<Result<Vec<_>>>()?;
                        if discard.is_empty() {
                            return Ok(());
                        }
                        for (path, v) in self.current_list(c)? {
                            if discard.contains(&v) {
                                out.push(self.delete_cell(id, Some(path)));
                            }
                        }
                    }
                    CqlType::Set { element: e, .. }
                    | CqlType::Map {
                        key: e, value: _, ..
                    } => {
                        let keys_ty = CqlType::set((**e).clone());
                        let Some(Value::Set(items)) = term_value(value, &keys_ty, bound)? else {
                            return Ok(());
                        };
                        for item in items {
                            out.push(self.delete_cell(id, Some(encode(e, &item)?.to_vec())));
                        }
                    }
                    _ => return Err(invalid_op()),
                }
                Ok(())
            }
            Assignment::SetElement { key, value, .. } => {
                if !multi {
                    return Err(invalid_op());
                }
                match &ty {
                    CqlType::Map {
                        key: kt, value: vt, ..
                    } => {
                        if bound.is_unset(key) {
                            return Err(Error::invalid("Invalid unset map key"));
                        }
                        let Some(k) = term_value(key, kt, bound)? else {
                            return Err(Error::invalid("Invalid null map key"));
                        };
                        let path = Some(encode(kt, &k)?.to_vec());
                        if bound.is_unset(value) {
                            return Ok(());
                        }
                        out.push(match term_value(value, vt, bound)? {
                            Some(v) => self.set_cell(id, path, encode(vt, &v)?),
                            None => self.delete_cell(id, path),
                        });
                        Ok(())
                    }
                    CqlType::List { element: e, .. } => {
                        if bound.is_unset(key) {
                            return Err(Error::invalid("Invalid unset value for list index"));
                        }
                        let index = term_value(key, &CqlType::Int, bound)?;
                        if index.is_none() {
                            return Err(Error::invalid("Invalid null value for list index"));
                        }
                        if bound.is_unset(value) {
                            return Ok(());
                        }
                        let v = term_value(value, e, bound)?;
                        let path = Some(self.list_index_path(c, index, "set")?);
                        out.push(match v {
                            Some(v) => self.set_cell(id, path, encode(e, &v)?),
                            None => self.delete_cell(id, path),
                        });
                        Ok(())
                    }
                    _ => Err(Error::invalid(format!(
                        "Invalid operation ({shown}) for non list/map column {}",
                        c.name
                    ))),
                }
            }
            Assignment::SetField { field, value, .. } => {
                let CqlType::Udt(u) = &ty else {
                    return Err(invalid_op());
                };
                if !multi {
                    return Err(invalid_op());
                }
                let (i, fty) = udt_field(u, c, field)?;
                if bound.is_unset(value) {
                    return Ok(());
                }
                let path = Some(field_path(i)?);
                out.push(match term_value(value, fty, bound)? {
                    Some(v) => self.set_cell(id, path, encode(fty, &v)?),
                    None => self.delete_cell(id, path),
                });
                Ok(())
            }
        }
    }

    /// One SET assignment of counter column `c`: `c = c + n` or `c = c - n` (also `+=`, `-=`),
    /// an increment its leader applies; anything else is refused with Cassandra's message.
    fn assign_counter(
        &self,
        a: &Assignment,
        c: &Column,
        shown: &str,
        out: &mut Vec<CellWrite>,
    ) -> Result<()> {
        let bound = self.t.bound;
        let name = &c.name;
        let (value, negate) = match a {
            Assignment::Append { value, .. } => (value, false),
            Assignment::Remove { value, .. } => (value, true),
            Assignment::Set { .. } => {
                return Err(Error::invalid(format!(
                    "Cannot set the value of counter column {name} (counters can only be \
                     incremented/decremented, not set)"
                )));
            }
            Assignment::Prepend { .. } => {
                return Err(Error::invalid(format!(
                    "Invalid operation ({shown}) for non list column {name}"
                )));
            }
            Assignment::SetElement { .. } => {
                return Err(Error::invalid(format!(
                    "Invalid operation ({shown}) for non collection column {name}"
                )));
            }
            Assignment::SetField { .. } => {
                return Err(Error::invalid(format!(
                    "Invalid operation ({shown}) for non-UDT column {name}"
                )));
            }
        };
        if matches!(
            value,
            Term::Literal(ilion_cql::language::ast::Literal::Null)
        ) {
            // Refused when the statement is prepared, in Cassandra's words for a literal null.
            return Err(Error::invalid(
                "Invalid null value for counter increment/decrement",
            ));
        }
        if bound.is_unset(value) {
            return Ok(());
        }
        let delta = match term_value(value, &CqlType::Counter, bound)? {
            Some(Value::Counter(n)) => n,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "Invalid value for counter increment of {name}"
                )));
            }
            None => return Err(Error::invalid("Invalid null value for counter increment")),
        };
        let delta = if negate {
            delta.checked_neg().ok_or_else(|| {
                Error::invalid(format!(
                    "The negation of {delta} overflows supported counter precision (signed 8 \
                     bytes integer)"
                ))
            })?
        } else {
            delta
        };
        out.push(CellWrite {
            column: self.id(c)?,
            path: None,
            op: CellOp::Increment {
                timestamp: self.timestamp,
                delta,
            },
        });
        Ok(())
    }

    /// One target of a DELETE (a column, an element, a field).
    pub(super) fn delete_target(
        &self,
        target: &DeleteTarget,
        out: &mut Vec<CellWrite>,
    ) -> Result<()> {
        let bound = self.t.bound;
        let name = match target {
            DeleteTarget::Column(n)
            | DeleteTarget::Element { column: n, .. }
            | DeleteTarget::Field { column: n, .. } => n,
        };
        let c = self.t.column(name.as_str())?;
        if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering) {
            return Err(Error::invalid(format!(
                "Invalid identifier {} for deletion (should not be a PRIMARY KEY part)",
                c.name
            )));
        }
        let id = self.id(c)?;
        let ty = self.column_type(c);
        let multi = is_multi_cell(&c.ty);
        match target {
            DeleteTarget::Column(_) => out.push(if multi {
                CellWrite {
                    column: id,
                    path: None,
                    op: CellOp::DeleteCollection(Deletion::new(self.timestamp, self.now)),
                }
            } else {
                self.delete_cell(id, None)
            }),
            DeleteTarget::Element { key, .. } => {
                let (CqlType::List { .. } | CqlType::Set { .. } | CqlType::Map { .. }) = ty else {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for non collection column {}",
                        c.name
                    )));
                };
                if !multi {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for frozen collection column {}",
                        c.name
                    )));
                }
                let path = match &ty {
                    // An unset index deletes nothing; an unset map key is refused.
                    CqlType::List { .. } => {
                        if bound.is_unset(key) {
                            return Ok(());
                        }
                        let index = term_value(key, &CqlType::Int, bound)?;
                        self.list_index_path(c, index, "delete")?
                    }
                    CqlType::Set { element: kt, .. } => {
                        if bound.is_unset(key) {
                            return Ok(());
                        }
                        let Some(k) = term_value(key, kt, bound)? else {
                            return Err(Error::invalid("Invalid null set element"));
                        };
                        encode(kt, &k)?.to_vec()
                    }
                    CqlType::Map { key: kt, .. } => {
                        if bound.is_unset(key) {
                            return Err(Error::invalid("Invalid unset map key"));
                        }
                        let Some(k) = term_value(key, kt, bound)? else {
                            return Err(Error::invalid("Invalid null map key"));
                        };
                        encode(kt, &k)?.to_vec()
                    }
                    _ => return Err(Error::server("unreachable column type")),
                };
                out.push(self.delete_cell(id, Some(path)));
            }
            DeleteTarget::Field { field, .. } => {
                let CqlType::Udt(u) = &ty else {
                    return Err(Error::invalid(format!(
                        "Invalid deletion operation for non-UDT column {}",
                        c.name
                    )));
                };
                if !multi {
                    return Err(Error::invalid(format!(
                        "Frozen UDT column {} does not support field deletions",
                        c.name
                    )));
                }
                let (i, _) = udt_field(u, c, field)?;
                out.push(self.delete_cell(id, Some(field_path(i)?)));
            }
        }
        Ok(())
    }
}

pub(super) fn field_path(i: usize) -> Result<Vec<u8>> {
    u16::try_from(i)
        .map(|i| i.to_be_bytes().to_vec())
        .map_err(|_| Error::invalid("too many fields in a user type"))
}

pub(super) fn udt_field<'u>(
    u: &'u ilion_cql::protocol::UdtType,
    c: &Column,
    field: &Ident,
) -> Result<(usize, &'u CqlType)> {
    u.fields
        .iter()
        .enumerate()
        .find(|(_, (n, _))| n == field.as_str())
        .map(|(i, (_, t))| (i, t))
        .ok_or_else(|| {
            Error::invalid(format!(
                "UDT column {} does not have a field named {}",
                c.name,
                field.as_str()
            ))
        })
}

pub(super) fn assignment_column(a: &Assignment) -> (&Ident, String) {
    match a {
        Assignment::Set { column, value } => (column, format!("{} = {value}", column.as_str())),
        Assignment::SetElement { column, key, value } => {
            (column, format!("{}[{key}] = {value}", column.as_str()))
        }
        Assignment::SetField {
            column,
            field,
            value,
        } => (
            column,
            format!("{}.{} = {value}", column.as_str(), field.as_str()),
        ),
        Assignment::Append { column, value } => {
            (column, format!("{0} = {0} + {value}", column.as_str()))
        }
        Assignment::Prepend { column, value } => {
            (column, format!("{0} = {value} + {0}", column.as_str()))
        }
        Assignment::Remove { column, value } => {
            (column, format!("{0} = {0} - {value}", column.as_str()))
        }
    }
}
