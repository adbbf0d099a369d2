//! Values that go into statements and come back in rows.

use std::sync::Arc;

use crate::{Error, Result};

/// What kind of value a column holds; a NULL keeps its kind so PostgreSQL can type it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Blob,
}

/// One bound parameter or one column of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null(Kind),
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A Rust value that can be bound to a `$N` placeholder.
pub trait Encode {
    const KIND: Kind;
    fn encode(self) -> Value;
}

impl Encode for i64 {
    const KIND: Kind = Kind::Int;
    fn encode(self) -> Value {
        Value::Int(self)
    }
}

impl Encode for String {
    const KIND: Kind = Kind::Text;
    fn encode(self) -> Value {
        Value::Text(self)
    }
}

impl Encode for &String {
    const KIND: Kind = Kind::Text;
    fn encode(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Encode for &str {
    const KIND: Kind = Kind::Text;
    fn encode(self) -> Value {
        Value::Text(self.to_string())
    }
}

impl Encode for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn encode(self) -> Value {
        Value::Blob(self)
    }
}

impl Encode for &[u8] {
    const KIND: Kind = Kind::Blob;
    fn encode(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl<T: Encode> Encode for Option<T> {
    const KIND: Kind = T::KIND;
    fn encode(self) -> Value {
        match self {
            Some(v) => v.encode(),
            None => Value::Null(T::KIND),
        }
    }
}

/// A Rust value that can be read from a column.
pub trait Decode: Sized {
    /// `None` when the value is of another kind.
    fn decode(value: &Value) -> Option<Self>;
    const EXPECTS: &'static str;
}

impl Decode for i64 {
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
    const EXPECTS: &'static str = "an integer";
}

impl Decode for String {
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
    const EXPECTS: &'static str = "text";
}

impl Decode for Vec<u8> {
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Blob(v) => Some(v.clone()),
            _ => None,
        }
    }
    const EXPECTS: &'static str = "a blob";
}

impl<T: Decode> Decode for Option<T> {
    fn decode(value: &Value) -> Option<Self> {
        match value {
            Value::Null(_) => Some(None),
            other => T::decode(other).map(Some),
        }
    }
    const EXPECTS: &'static str = T::EXPECTS;
}

/// One row of a result, with its columns' names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub(crate) columns: Arc<[String]>,
    pub(crate) values: Vec<Value>,
}

impl Row {
    /// The value of `column`, as `T`.
    pub fn try_get<T: Decode>(&self, column: &str) -> Result<T> {
        let at = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| Error::Decode {
                column: column.to_string(),
                message: "no such column in the result".into(),
            })?;
        let value = &self.values[at];
        T::decode(value).ok_or_else(|| Error::Decode {
            column: column.to_string(),
            message: format!("expected {}, found {value:?}", T::EXPECTS),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_keep_their_kind_and_decode_only_into_options() {
        assert_eq!(None::<i64>.encode(), Value::Null(Kind::Int));
        assert_eq!(None::<&str>.encode(), Value::Null(Kind::Text));
        assert_eq!(Some(b"ab".as_slice()).encode(), Value::Blob(b"ab".to_vec()));
        let row = Row {
            columns: vec!["n".to_string(), "s".to_string()].into(),
            values: vec![Value::Null(Kind::Int), Value::Text("x".into())],
        };
        assert_eq!(row.try_get::<Option<i64>>("n").unwrap(), None);
        assert!(row.try_get::<i64>("n").is_err());
        assert_eq!(row.try_get::<String>("s").unwrap(), "x");
        assert!(row.try_get::<i64>("s").is_err());
        assert!(row.try_get::<String>("missing").is_err());
    }
}
