//! The registry as SQL tables: `agency_registry` (one row per agency and period) and
//! `agency_lineage` (one row per edge), each scan reading the projection as it is then.

use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::rollups::Rollups;

/// A table of the registry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RegistryTable {
    /// `agency_registry`.
    Registry,
    /// `agency_lineage`.
    Lineage,
}

impl RegistryTable {
    /// Both tables.
    pub(crate) const ALL: [RegistryTable; 2] = [RegistryTable::Registry, RegistryTable::Lineage];

    /// Its SQL name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RegistryTable::Registry => "agency_registry",
            RegistryTable::Lineage => "agency_lineage",
        }
    }

    pub(crate) fn schema(self) -> SchemaRef {
        static REGISTRY: LazyLock<SchemaRef> = LazyLock::new(|| {
            let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
            let date = |n: &str| Field::new(n, DataType::Date32, true);
            Arc::new(Schema::new(vec![
                text("agency_code", false),
                text("name_vi", true),
                text("name_en", true),
                text("level", true),
                text("parent_code", true),
                date("valid_from"),
                date("valid_to"),
                text("basis", true),
            ]))
        });
        static LINEAGE: LazyLock<SchemaRef> = LazyLock::new(|| {
            let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
            Arc::new(Schema::new(vec![
                text("agency_code", false),
                text("successor_code", true),
                Field::new("effective_date", DataType::Date32, false),
                text("kind", false),
                Field::new("weight", DataType::Float64, true),
                Field::new("estimated", DataType::Boolean, false),
                text("basis", false),
            ]))
        });
        match self {
            RegistryTable::Registry => Arc::clone(&REGISTRY),
            RegistryTable::Lineage => Arc::clone(&LINEAGE),
        }
    }

    /// Its rows, from `rollups`.
    pub(crate) fn batch(
        self,
        rollups: &Rollups,
    ) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
        let days = |d: NaiveDate| {
            (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
        };
        let columns: Vec<ArrayRef> = match self {
            RegistryTable::Registry => {
                let periods = rollups.registry_periods();
                let mut texts: [StringBuilder; 6] = Default::default();
                let (mut from, mut to) = (Date32Builder::new(), Date32Builder::new());
                for p in &periods {
                    texts[0].append_value(&p.agency_code);
                    texts[1].append_option(p.name_vi.as_deref());
                    texts[2].append_option(p.name_en.as_deref());
                    texts[3].append_option(p.level.map(|l| l.as_str()));
                    texts[4].append_option(p.parent_code.as_deref());
                    texts[5].append_option(p.basis.as_deref());
                    from.append_option(p.valid_from.map(days));
                    to.append_option(p.valid_to.map(days));
                }
                let [code, name_vi, name_en, level, parent, basis] =
                    texts.map(|mut b| Arc::new(b.finish()) as ArrayRef);
                vec![
                    code,
                    name_vi,
                    name_en,
                    level,
                    parent,
                    Arc::new(from.finish()),
                    Arc::new(to.finish()),
                    basis,
                ]
            }
            RegistryTable::Lineage => {
                let edges = rollups.lineage();
                let mut texts: [StringBuilder; 4] = Default::default();
                let mut date = Date32Builder::new();
                let mut weight = Float64Builder::new();
                let mut estimated = BooleanBuilder::new();
                for e in &edges {
                    texts[0].append_value(&e.agency_code);
                    texts[1].append_option(e.successor_code.as_deref());
                    texts[2].append_value(e.kind);
                    texts[3].append_value(&e.basis);
                    date.append_value(days(e.date));
                    weight.append_option(e.weight);
                    estimated.append_value(e.estimated);
                }
                let [code, successor, kind, basis] =
                    texts.map(|mut b| Arc::new(b.finish()) as ArrayRef);
                vec![
                    code,
                    successor,
                    Arc::new(date.finish()),
                    kind,
                    Arc::new(weight.finish()),
                    Arc::new(estimated.finish()),
                    basis,
                ]
            }
        };
        RecordBatch::try_new(self.schema(), columns)
    }
}
