//! Event ids that are UUIDs are stored as their 16 bytes, not as 36 characters of text.
//!
//! Random ids do not compress: as zstd text a UUID took 21.5 bytes per event in the lake, as
//! bytes it takes 16. The stored files have two columns, `event_uuid` (the 16 bytes, when the id
//! is a UUID in canonical lowercase form, so it reads back exactly) and `event_id` (the text of
//! every other id); SQL sees one text `event_id` again through [`event_id_expr`].

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{coalesce, col};

/// Stored column holding the bytes of UUID ids.
pub(crate) const UUID_COLUMN: &str = "event_uuid";

/// The 16 bytes of `id` when it is a UUID written in canonical lowercase form
/// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), so that [`text`] gives back exactly `id`.
pub(crate) fn parse(id: &str) -> Option<[u8; 16]> {
    let id = id.as_bytes();
    if id.len() != 36 || [8, 13, 18, 23].iter().any(|&i| id[i] != b'-') {
        return None;
    }
    let mut digits = id.iter().filter(|&&b| b != b'-').map(|&b| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    });
    let mut out = [0u8; 16];
    for byte in &mut out {
        *byte = (digits.next()?? << 4) | digits.next()??;
    }
    Some(out)
}

/// Writes the canonical text of a 16-byte UUID.
pub(crate) fn write_text(bytes: &[u8], out: &mut impl std::fmt::Write) -> std::fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.write_char('-')?;
        }
        write!(out, "{b:02x}")?;
    }
    Ok(())
}

/// `event_id` as SQL sees it: the stored text, or else the text of the stored UUID.
pub(crate) fn event_id_expr() -> Expr {
    static UUID_TEXT: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(UuidText::default())));
    coalesce(vec![
        col("event_id"),
        UUID_TEXT.call(vec![col(UUID_COLUMN)]),
    ])
    .alias("event_id")
}

/// `uuid_text(FixedSizeBinary(16)) -> Utf8`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UuidText {
    signature: Signature,
}

impl Default for UuidText {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::FixedSizeBinary(16)], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UuidText {
    fn name(&self) -> &str {
        "uuid_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("uuid_text takes one argument");
        };
        let array = arg.to_array(args.number_rows)?;
        let bytes = array.as_fixed_size_binary();
        let mut out = StringBuilder::with_capacity(bytes.len(), bytes.len() * 36);
        for i in 0..bytes.len() {
            if bytes.is_null(i) {
                out.append_null();
            } else {
                write_text(bytes.value(i), &mut out).expect("a builder takes any text");
                out.append_value("");
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        let mut out = String::new();
        write_text(bytes, &mut out).unwrap();
        out
    }

    #[test]
    fn canonical_uuids_round_trip_and_nothing_else_is_one() {
        let id = "0190f3c2-7a1b-7cc0-9d1e-2f3a4b5c6d7e";
        assert_eq!(text(&parse(id).unwrap()), id);
        for other in [
            "0190F3C2-7A1B-7CC0-9D1E-2F3A4B5C6D7E",
            "0190f3c27a1b7cc09d1e2f3a4b5c6d7e",
            "{0190f3c2-7a1b-7cc0-9d1e-2f3a4b5c6d7e}",
            "0190f3c2-7a1b-7cc0-9d1e-2f3a4b5c6d7g",
            "0190f3c2-7a1b-7cc0-9d1e+2f3a4b5c6d7e",
            "ev-000001",
            "",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
