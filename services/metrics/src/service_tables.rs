//! The 766 service index as SQL tables, scoped by `agency_code` like the other projections:
//! `index_766`, one row per agency and month (total, points, rank, change), and
//! `index_766_inputs`, one row per agency, month and indicator (its input's numerator and
//! denominator, points, missing). Each scan scores the months of the projector's published
//! rollups with the rubrics registered ([`register_index_766`]).

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parwatch_lake::{AGENCY_COLUMN, QueryEngine, Scoping};
use parwatch_scoring::{ServiceIndex, ServiceRubrics};

use crate::projector::Projector;

/// Registers (or replaces) `index_766` and `index_766_inputs` over the projector's rollups,
/// scored by `rubrics`.
pub fn register_index_766(
    engine: &QueryEngine,
    projector: Arc<Projector>,
    rubrics: Arc<ServiceRubrics>,
) -> parwatch_lake::Result<()> {
    for table in [Table::Index, Table::Inputs] {
        let provider = ServiceTable {
            projector: Arc::clone(&projector),
            rubrics: Arc::clone(&rubrics),
            table,
        };
        engine.register(
            table.name(),
            Arc::new(provider),
            Scoping::Column(AGENCY_COLUMN),
        )?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Index,
    Inputs,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Index => "index_766",
            Table::Inputs => "index_766_inputs",
        }
    }

    fn schema(self) -> SchemaRef {
        static INDEX: LazyLock<SchemaRef> = LazyLock::new(|| {
            Arc::new(Schema::new(vec![
                Field::new("month", DataType::Date32, false),
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("kind", DataType::Utf8, false),
                Field::new("rubric", DataType::Date32, false),
                Field::new("max", DataType::Float64, false),
                Field::new("points", DataType::Float64, false),
                Field::new("max_with_data", DataType::Float64, false),
                Field::new("total", DataType::Float64, true),
                Field::new("complete", DataType::Boolean, false),
                Field::new("missing", DataType::Utf8, false),
                Field::new("rank", DataType::Int32, true),
                Field::new("of", DataType::Int32, false),
                Field::new("change", DataType::Float64, true),
                Field::new("rank_change", DataType::Int64, true),
            ]))
        });
        static INPUTS: LazyLock<SchemaRef> = LazyLock::new(|| {
            Arc::new(Schema::new(vec![
                Field::new("month", DataType::Date32, false),
                Field::new("agency_code", DataType::Utf8, false),
                Field::new("group_code", DataType::Utf8, false),
                Field::new("indicator", DataType::Utf8, false),
                Field::new("input", DataType::Utf8, false),
                Field::new("max", DataType::Float64, false),
                Field::new("numerator", DataType::Int64, false),
                Field::new("denominator", DataType::Int64, false),
                Field::new("points", DataType::Float64, true),
                Field::new("missing", DataType::Boolean, false),
            ]))
        });
        Arc::clone(match self {
            Table::Index => &INDEX,
            Table::Inputs => &INPUTS,
        })
    }

    fn batch(self, months: &[ServiceIndex]) -> Result<RecordBatch, ArrowError> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        let days = |d: NaiveDate| (d - epoch).num_days() as i32;
        let mut month = Date32Builder::new();
        let mut agency = StringBuilder::new();
        let columns: Vec<ArrayRef> = match self {
            Table::Index => {
                let (mut kind, mut missing) = (StringBuilder::new(), StringBuilder::new());
                let mut rubric = Date32Builder::new();
                let [mut max, mut points, mut with_data, mut total, mut change] =
                    std::array::from_fn(|_| Float64Builder::new());
                let mut complete = BooleanBuilder::new();
                let (mut rank, mut of) = (Int32Builder::new(), Int32Builder::new());
                let mut rank_change = Int64Builder::new();
                for m in months {
                    for a in &m.agencies {
                        month.append_value(days(m.period.first_day()));
                        agency.append_value(&a.agency_code);
                        kind.append_value(a.kind.as_str());
                        rubric.append_value(days(m.rubric));
                        max.append_value(a.max);
                        points.append_value(a.points);
                        with_data.append_value(a.max_with_data);
                        total.append_option(a.total);
                        complete.append_value(a.complete);
                        missing.append_value(a.missing.join(","));
                        rank.append_option(a.rank.map(|r| r as i32));
                        of.append_value(a.of as i32);
                        change.append_option(a.change);
                        rank_change.append_option(a.rank_change);
                    }
                }
                vec![
                    Arc::new(month.finish()),
                    Arc::new(agency.finish()),
                    Arc::new(kind.finish()),
                    Arc::new(rubric.finish()),
                    Arc::new(max.finish()),
                    Arc::new(points.finish()),
                    Arc::new(with_data.finish()),
                    Arc::new(total.finish()),
                    Arc::new(complete.finish()),
                    Arc::new(missing.finish()),
                    Arc::new(rank.finish()),
                    Arc::new(of.finish()),
                    Arc::new(change.finish()),
                    Arc::new(rank_change.finish()),
                ]
            }
            Table::Inputs => {
                let [mut group, mut code, mut input] =
                    std::array::from_fn(|_| StringBuilder::new());
                let (mut max, mut points) = (Float64Builder::new(), Float64Builder::new());
                let (mut numerator, mut denominator) = (Int64Builder::new(), Int64Builder::new());
                let mut missing = BooleanBuilder::new();
                for m in months {
                    for a in &m.agencies {
                        for i in a.groups.iter().flat_map(|g| &g.indicators) {
                            month.append_value(days(m.period.first_day()));
                            agency.append_value(&a.agency_code);
                            group.append_value(&i.group);
                            code.append_value(&i.code);
                            input.append_value(i.input.as_str());
                            max.append_value(i.max);
                            numerator.append_value(i.numerator);
                            denominator.append_value(i.denominator);
                            points.append_option(i.points);
                            missing.append_value(i.missing);
                        }
                    }
                }
                vec![
                    Arc::new(month.finish()),
                    Arc::new(agency.finish()),
                    Arc::new(group.finish()),
                    Arc::new(code.finish()),
                    Arc::new(input.finish()),
                    Arc::new(max.finish()),
                    Arc::new(numerator.finish()),
                    Arc::new(denominator.finish()),
                    Arc::new(points.finish()),
                    Arc::new(missing.finish()),
                ]
            }
        };
        RecordBatch::try_new(self.schema(), columns)
    }
}

/// One of the tables: each scan scores the published rollups' months.
#[derive(Debug)]
struct ServiceTable {
    projector: Arc<Projector>,
    rubrics: Arc<ServiceRubrics>,
    table: Table,
}

#[async_trait]
impl TableProvider for ServiceTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let today = parwatch_proto::local_date(Utc::now());
        let months = self
            .projector
            .rollups()
            .service_months(&self.rubrics, today);
        let batch = self.table.batch(&months)?;
        MemTable::try_new(self.table.schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
