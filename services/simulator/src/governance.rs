//! The agencies' own PAR work, year by year: for every agency the year's scoring models rank
//! (departments, districts until 2025, communes from 2025), its PAR plan (kế hoạch CCHC) and the
//! activities in it, the tasks the province assigns it, and the scores of its PAR Index —
//! self-assessments during the year, an inspection for some agencies in summer, the
//! sociological survey and then the appraisal in December, the appraisal superseding the
//! self-assessments. Criteria the models derive from live metrics are not scored: ParWatch
//! computes them from the tasks, plans and dossiers.
//!
//! A year's events are planned at once when the generator reaches it, from a random stream of
//! their own per agency and year, and keep their ids in every run (backfill or live) of a seed:
//! they are the same facts, so a repeated publication is deduplicated. They are rare (a few
//! thousand a year), so they are rendered with `serde_json`.

use std::cmp::Ordering;

use bytes::{Bytes, BytesMut};
use chrono::NaiveDate;
use parwatch_proto::{AgencyKind, Assessor, EventType};
use parwatch_scoring::{Models, Rubric};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::calendar::{Calendar, OFFICE_CLOSES};
use crate::dossier::{local_midnight, office_time};
use crate::province::{Agency, Province};
use crate::render;

/// Mixed into the seed of governance events' ids and random streams.
const SALT: u64 = 0x4741_5645_524e_414e;

/// Titles of plan activities, as PAR plans word them.
const ACTIVITIES: &[&str] = &[
    "Ban hành kế hoạch tuyên truyền CCHC",
    "Rà soát, đánh giá thủ tục hành chính thuộc thẩm quyền",
    "Kiểm tra công tác CCHC tại các phòng, đơn vị trực thuộc",
    "Báo cáo kết quả thực hiện CCHC quý",
    "Rà soát văn bản quy phạm pháp luật thuộc lĩnh vực quản lý",
    "Cập nhật, công khai thủ tục hành chính trên cổng thông tin",
    "Tập huấn nghiệp vụ cho công chức bộ phận một cửa",
    "Duy trì, cải tiến hệ thống quản lý chất lượng ISO 9001:2015",
    "Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
    "Khảo sát mức độ hài lòng của tổ chức, cá nhân",
    "Rà soát vị trí việc làm, cơ cấu ngạch công chức",
    "Tự đánh giá, chấm điểm Chỉ số CCHC",
];

/// One planned governance event, ordered by time, then key (deterministic ties).
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// Unix seconds.
    pub(crate) at: i64,
    /// Unique per event of a seed: year, agency, serial.
    key: u64,
    pub(crate) event_type: EventType,
    agency: usize,
    /// The procedure it concerns (its index in the province), if any.
    procedure: Option<usize>,
    data: Value,
}

impl PartialEq for Planned {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.key) == (other.at, other.key)
    }
}
impl Eq for Planned {}
impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Planned {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.key).cmp(&(other.at, other.key))
    }
}

impl Planned {
    /// An event of `event_type` about agency `agency` (its index in the province) at `at`
    /// (unix seconds), with `key` unique among the events of a seed.
    pub(crate) fn new(
        at: i64,
        key: u64,
        event_type: EventType,
        agency: usize,
        data: Value,
    ) -> Self {
        Planned {
            at,
            key,
            event_type,
            agency,
            procedure: None,
            data,
        }
    }

    /// The same event about procedure `procedure` (its index in the province).
    pub(crate) fn with_procedure(mut self, procedure: usize) -> Self {
        self.procedure = Some(procedure);
        self
    }

    /// The event's id and JSON body.
    pub(crate) fn render(&self, province: &Province, seed: u64) -> (String, Bytes) {
        let event_id = render::event_id(seed ^ SALT, self.key);
        let source = match self.event_type {
            EventType::ParScore => "chiso-cchc",
            EventType::PlanActivity => "qlvb",
            EventType::ProcedureCatalogued => "csdl-tthc",
            EventType::PetitionReceived | EventType::PetitionAnswered => "pakn",
            t if t.is_registry() => "ubnd",
            _ => "chidao-dieuhanh",
        };
        let mut body = json!({
            "event_id": event_id,
            "type": self.event_type.as_str(),
            "schema_version": 1,
            "occurred_at": timestamp(self.at),
            "source": format!("{source}-{}", province.slug),
            "agency_code": province.code_of(self.agency),
            "data": self.data,
        });
        if let Some(procedure) = self.procedure {
            body["procedure_code"] = json!(province.procedures()[procedure].code);
        }
        (event_id, Bytes::from(body.to_string()))
    }
}

/// `unix_secs` as local RFC 3339 text.
pub(crate) fn timestamp(unix_secs: i64) -> String {
    let mut buf = BytesMut::with_capacity(25);
    render::put_timestamp(&mut buf, unix_secs);
    String::from_utf8_lossy(&buf).into_owned()
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("governance dates are valid")
}

/// Points are scored with three decimals.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Every governance event of `year`, for the agencies existing at its end whose kind the
/// year's models rank.
pub(crate) fn year_events(
    province: &Province,
    models: &Models,
    seed: u64,
    year: i32,
) -> Vec<Planned> {
    let end = ymd(year, 12, 31);
    let mut out = Vec::new();
    for (index, agency) in province.agencies().iter().enumerate() {
        let Some(rubric) = models.rubric(agency.kind, year) else {
            continue;
        };
        if !agency.is_active(end) {
            continue;
        }
        let stream = seed ^ SALT ^ ((year as u64) << 32) ^ index as u64;
        let mut work = AgencyYear {
            calendar: province.calendar(),
            agency,
            index,
            year,
            rng: ChaCha8Rng::seed_from_u64(render::mix(stream)),
            quality: 0.0,
            serial: 0,
            out: &mut out,
        };
        work.quality = work.quality_of_the_year();
        work.plan();
        work.tasks();
        work.scores(rubric);
    }
    out
}

/// One agency's PAR work in one year.
struct AgencyYear<'a> {
    calendar: &'a Calendar,
    agency: &'a Agency,
    index: usize,
    year: i32,
    rng: ChaCha8Rng,
    /// How well the agency works this year, in (0.6, 0.99): shares of tasks on time, of plan
    /// activities done, of criteria's points.
    quality: f64,
    serial: u64,
    out: &'a mut Vec<Planned>,
}

impl AgencyYear<'_> {
    /// Agencies slow with dossiers are slow with the rest; each year moves a little.
    fn quality_of_the_year(&mut self) -> f64 {
        let base = 0.97 - 0.06 * self.agency.performance.late_factor;
        (base + self.rng.random_range(-0.04..0.04)).clamp(0.6, 0.99)
    }

    fn emit(&mut self, at: i64, event_type: EventType, data: Value) {
        self.serial += 1;
        self.out.push(Planned::new(
            at,
            ((self.year as u64) << 40) | ((self.index as u64) << 24) | self.serial,
            event_type,
            self.index,
            data,
        ));
    }

    /// The working day on or after `day`, or the last one from `day` to `end` when that is
    /// past `end`.
    fn next_working_day(&self, day: NaiveDate, end: NaiveDate) -> NaiveDate {
        let next = self.calendar.working_day_on_or_after(day);
        if next <= end {
            return next;
        }
        let mut back = end;
        while !self.calendar.is_working_day(back) && back > day {
            back = back
                .pred_opt()
                .expect("dates stay far from chrono's limits");
        }
        back
    }

    /// A working day in `[from, to]` at random.
    fn working_day(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days().max(0) as u64;
        let day = from + chrono::Days::new(self.rng.random_range(0..=span));
        self.next_working_day(day, to)
    }

    /// A time within office hours of `day`.
    fn office(&mut self, day: NaiveDate) -> i64 {
        local_midnight(day) + office_time(&mut self.rng)
    }

    fn count(&mut self, department: (u32, u32), district: (u32, u32), commune: (u32, u32)) -> u32 {
        let (lo, hi) = match self.agency.kind {
            AgencyKind::Department => department,
            AgencyKind::District => district,
            AgencyKind::Commune => commune,
        };
        self.rng.random_range(lo..=hi)
    }

    /// The year's PAR plan, issued in early January, its activities due month by month; most
    /// are done by their due date or a little after, a few cancelled, some left undone.
    fn plan(&mut self) {
        let year = self.year;
        let n = self.count((24, 34), (30, 40), (12, 18));
        let issued_day = self.working_day(ymd(year, 1, 3), ymd(year, 1, 15));
        let issued = self.office(issued_day);
        for i in 0..n {
            let month = i * 12 / n + 1;
            let day = ymd(year, month, self.rng.random_range(18..=26));
            let due_day = self.next_working_day(day, ymd(year, 12, 31));
            let due_at = local_midnight(due_day) + OFFICE_CLOSES;
            let title = match i as usize / ACTIVITIES.len() {
                0 => ACTIVITIES[i as usize].to_owned(),
                round => format!(
                    "{} (đợt {})",
                    ACTIVITIES[i as usize % ACTIVITIES.len()],
                    round + 1
                ),
            };
            let activity = |status: &str| {
                json!({"plan_year": year, "activity_id": format!("KH-CCHC-{year}-{:02}", i + 1),
                    "title": title, "status": status, "due_at": timestamp(due_at)})
            };
            self.emit(issued, EventType::PlanActivity, activity("planned"));
            let roll: f64 = self.rng.random();
            if roll < 0.03 {
                let day = self.working_day(issued_day, due_day);
                let at = self.office(day).max(issued + 60);
                self.emit(at, EventType::PlanActivity, activity("cancelled"));
            } else if roll < 0.03 + self.quality {
                let early = self.rng.random_range(0..=20);
                let late = if self.rng.random_bool(0.15) { 10 } else { 0 };
                let day =
                    (due_day - chrono::Days::new(early) + chrono::Days::new(late)).max(issued_day);
                let day = self.next_working_day(day, ymd(year, 12, 31));
                let at = self.office(day).max(issued + 60);
                self.emit(at, EventType::PlanActivity, activity("done"));
            }
        }
    }

    /// Tasks assigned by the province from January to November, due 5 to 30 working days
    /// later; completed on time, late, or (late past the year's end) not at all.
    fn tasks(&mut self) {
        let year = self.year;
        let end = ymd(year, 12, 31);
        let n = self.count((30, 50), (40, 60), (15, 25));
        let on_time_share = (self.quality + self.rng.random_range(-0.05..0.03)).clamp(0.5, 1.0);
        for i in 0..n {
            let assigned_day = self.working_day(ymd(year, 1, 10), ymd(year, 11, 30));
            let assigned = self.office(assigned_day);
            let working_days = self.rng.random_range(5..=30);
            let due_day = self
                .calendar
                .add_working_days(assigned_day, working_days)
                .min(end);
            let due_at = local_midnight(due_day) + OFFICE_CLOSES;
            let task_id = format!("{}/UBND-VP ({year})", 200 + i * 17);
            let due = timestamp(due_at);
            let assigned_data = json!({"task_id": task_id, "status": "assigned", "due_at": due});
            self.emit(assigned, EventType::DirectiveTask, assigned_data);
            let done_day = if self.rng.random_bool(on_time_share) {
                let first = self.calendar.add_working_days(assigned_day, 1).min(due_day);
                self.working_day(first, due_day)
            } else {
                let late = self.rng.random_range(1..=15);
                self.calendar.add_working_days(due_day, late)
            };
            if done_day > end {
                continue;
            }
            let done = self.office(done_day).max(assigned + 60);
            let recorded = done + self.rng.random_range(300..7_200);
            let completed = json!({"task_id": task_id, "status": "completed", "due_at": due,
                "completed_at": timestamp(done)});
            self.emit(recorded, EventType::DirectiveTask, completed);
        }
    }

    /// Scores of every criterion not derived from live metrics: self-assessed from July to
    /// November (a little generous), inspected in summer for about a third of the agencies
    /// (two components), surveyed in early December, appraised in mid-December. Now and then a
    /// small criterion gets nothing (no report sent in, say).
    fn scores(&mut self, rubric: &Rubric) {
        let year = self.year;
        let kind = self.agency.kind.as_str();
        let official_components: Vec<&str> = rubric
            .components
            .iter()
            .filter(|c| {
                c.criteria
                    .iter()
                    .all(|k| k.assessed_by == Assessor::Appraisal)
            })
            .map(|c| c.code.as_str())
            .collect();
        let inspected: Vec<&str> = if self.rng.random_bool(0.3) {
            official_components
                .choose_multiple(&mut self.rng, 2)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let inspection_day = self.working_day(ymd(year, 6, 1), ymd(year, 8, 31));
        let survey_day = self.working_day(ymd(year, 12, 1), ymd(year, 12, 5));
        let appraisal_day = self.working_day(ymd(year, 12, 8), ymd(year, 12, 18));
        for (component, criterion) in rubric.criteria() {
            if criterion.derived.is_some() {
                continue;
            }
            let share = if criterion.max <= 2.0 && self.rng.random_bool(0.04) {
                0.0
            } else {
                (self.quality + self.rng.random_range(-0.12..0.06)).clamp(0.0, 1.0)
            };
            let max = criterion.max;
            let score = |this: &mut Self, day: NaiveDate, assessor: Assessor, share: f64| {
                let data = json!({"year": year, "component": component.code,
                    "criterion": criterion.code, "score": round3(share * max), "max": max,
                    "assessor": assessor.as_str(), "agency_kind": kind});
                let at = this.office(day);
                this.emit(at, EventType::ParScore, data);
            };
            if criterion.assessed_by == Assessor::Survey {
                score(self, survey_day, Assessor::Survey, share);
                continue;
            }
            let generous = (share + self.rng.random_range(0.03..0.15)).min(1.0);
            let self_day = self.working_day(ymd(year, 7, 1), ymd(year, 11, 25));
            score(self, self_day, Assessor::SelfAssessment, generous);
            if inspected.contains(&component.code.as_str()) {
                let seen = (share + self.rng.random_range(-0.03..0.03)).clamp(0.0, 1.0);
                score(self, inspection_day, Assessor::Inspection, seen);
            }
            score(self, appraisal_day, Assessor::Appraisal, share);
        }
    }
}
