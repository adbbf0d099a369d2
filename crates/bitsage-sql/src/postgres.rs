//! Statements on PostgreSQL through sqlx.

use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column, Postgres, Row as _, TypeInfo, ValueRef as _};

use crate::value::{Kind, Row, Value};
use crate::{Error, Result};

pub(crate) fn query<'q>(sql: &'q str, args: &[Value]) -> Query<'q, Postgres, PgArguments> {
    let mut q = sqlx::query(sql);
    for arg in args {
        q = match arg.clone() {
            Value::Int(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
            Value::Blob(v) => q.bind(v),
            Value::Null(Kind::Int) => q.bind(None::<i64>),
            Value::Null(Kind::Text) => q.bind(None::<String>),
            Value::Null(Kind::Blob) => q.bind(None::<Vec<u8>>),
        };
    }
    q
}

/// Converts sqlx's rows, all of one statement, to ours.
pub(crate) fn rows(rows: Vec<PgRow>) -> Result<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    rows.iter()
        .map(|row| {
            let values = (0..columns.len())
                .map(|i| value(row, i, &columns[i]))
                .collect::<Result<Vec<_>>>()?;
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}

fn value(row: &PgRow, i: usize, column: &str) -> Result<Value> {
    let raw = row.try_get_raw(i)?;
    let type_name = raw.type_info().name().to_string();
    let is_null = raw.is_null();
    let kind = match type_name.as_str() {
        "INT2" | "INT4" | "INT8" | "BOOL" => Kind::Int,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Kind::Text,
        "BYTEA" => Kind::Blob,
        other => {
            return Err(Error::Decode {
                column: column.to_string(),
                message: format!("unsupported PostgreSQL type {other}"),
            })
        }
    };
    if is_null {
        return Ok(Value::Null(kind));
    }
    Ok(match type_name.as_str() {
        "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
        "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
        "INT8" => Value::Int(row.try_get::<i64, _>(i)?),
        "BOOL" => Value::Int(row.try_get::<bool, _>(i)?.into()),
        "BYTEA" => Value::Blob(row.try_get(i)?),
        _ => Value::Text(row.try_get(i)?),
    })
}
