//! The simulated province: its agencies (departments, district and commune people's committees,
//! with the 2025 mergers), its procedure catalogue with skewed volumes, and how each agency
//! performs. Built deterministically from a seed.
//!
//! On 1 July 2025 the province became part of Ho Chi Minh City (Resolution 202/2025/QH15): its
//! departments merged into the city's, which carry the city's codes (`….H29`), and the new
//! communes of that day are the city's. Dossiers of the province's area are received under the
//! new codes from then on.
//!
//! A dossier names the agencies of its other roles (issue #23): a district's or department's
//! dossier its applicant's commune (by the communes' sizes), and most departments' dossiers
//! handed in at a counter or by post the Public Administration Service Centre that received
//! them ([`Province::roles_of`]).

use chrono::NaiveDate;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calendar::Calendar;

/// Departments merged into their successors from this day (Resolution of the 15th National
/// Assembly on the 2025 reorganisation).
const DEPARTMENT_MERGER: (i32, u32, u32) = (2025, 3, 1);
/// District people's committees are abolished, communes merged, from this day.
const DISTRICTS_ABOLISHED: (i32, u32, u32) = (2025, 7, 1);

/// The Public Administration Service Centres (Trung tâm Phục vụ hành chính công) receiving the
/// departments' dossiers at their counters: the province's until 30 June 2025, then the
/// city's. Agencies of the dossiers' receiving role only: (code, name).
const SERVICE_CENTRES: [(&str, &str); 2] = [
    (
        "000.00.90.H02",
        "Trung tâm Phục vụ hành chính công tỉnh Bà Rịa - Vũng Tàu",
    ),
    (
        "000.00.90.H29",
        "Trung tâm Phục vụ hành chính công Thành phố Hồ Chí Minh",
    ),
];

/// Share of the departments' dossiers handed in at a counter or by post that the service
/// centre receives (the rest at the department's own desk).
const AT_SERVICE_CENTRE: f64 = 0.8;

const PROVINCE_CODE: &str = "H02";
const PROVINCE_NAME: &str = "Bà Rịa - Vũng Tàu";
const PROVINCE_SLUG: &str = "brvt";

/// The city the province became part of on [`DISTRICTS_ABOLISHED`]: its code and name.
const CITY_CODE: &str = "H29";
const CITY_NAME: &str = "Thành phố Hồ Chí Minh";

/// The people's committees of the province and of the city: (code, Vietnamese name, English
/// name). Units of the registry only, they receive no dossiers here.
const PROVINCE_LEVEL: [(&str, &str, &str); 2] = [
    (
        "000.00.00.H02",
        "Ủy ban nhân dân tỉnh Bà Rịa - Vũng Tàu",
        "Ba Ria - Vung Tau Provincial People's Committee",
    ),
    (
        "000.00.00.H29",
        "Ủy ban nhân dân Thành phố Hồ Chí Minh",
        "Ho Chi Minh City People's Committee",
    ),
];

/// The level of government an agency belongs to (the contract's `agency_kind`).
pub use parwatch_proto::AgencyKind;

/// How an agency performs, relative to the province-wide trends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Performance {
    /// Multiplies the province's late share.
    pub(crate) late_factor: f64,
    /// Log-slope per year of the late factor after 2022 (negative: improving).
    pub(crate) late_trend: f64,
    /// Share of its late dossiers that get a written apology.
    pub(crate) apology_rate: f64,
    /// Multiplies the province's online share.
    pub(crate) online_factor: f64,
    /// Relative size, for spreading district and commune dossiers.
    pub(crate) size: f64,
}

/// One agency (cơ quan, đơn vị) that receives dossiers.
#[derive(Debug, Clone)]
pub struct Agency {
    /// Identification code (mã định danh), e.g. `000.00.17.H02`.
    pub code: String,
    /// Vietnamese display name, e.g. `Sở Tư pháp`.
    pub name: String,
    /// Level of government.
    pub kind: AgencyKind,
    /// First day it exists, when it was created during the simulated period.
    pub active_from: Option<NaiveDate>,
    /// Last day it exists, when it was merged or abolished.
    pub active_until: Option<NaiveDate>,
    /// Code of the agency that took over its procedures when it ended.
    pub successor: Option<String>,
    /// A part of its territory that went to another successor (a partial split), with its
    /// share; the rest went to `successor`.
    pub split_to: Option<(String, f64)>,
    /// Code of the district an old commune belonged to.
    pub district: Option<String>,
    /// Code of the people's committee of the province or city an agency created in the
    /// reorganisation belongs to (the city's, for its departments and new communes).
    pub parent: Option<String>,
    pub(crate) performance: Performance,
    successor_index: Option<usize>,
}

impl Agency {
    /// Whether the agency exists on `date`.
    pub fn is_active(&self, date: NaiveDate) -> bool {
        self.active_from.is_none_or(|from| from <= date)
            && self.active_until.is_none_or(|until| date <= until)
    }
}

/// One administrative procedure (thủ tục hành chính) of the catalogue.
#[derive(Debug, Clone)]
pub struct Procedure {
    /// National procedure code (mã TTHC), e.g. `1.001234`.
    pub code: String,
    /// Vietnamese name.
    pub name: String,
    /// The level of government that handles it.
    pub level: AgencyKind,
    /// Legal processing time in working days.
    pub working_days: u32,
    /// Relative volume within its level (Zipf-like: a few procedures dominate).
    pub weight: f64,
    /// For department procedures, the index of the owning department in [`Province::agencies`].
    owner: Option<usize>,
}

/// A province: agencies, procedures and the calendar they work by.
#[derive(Debug, Clone)]
pub struct Province {
    /// Vietnamese name of the province.
    pub name: String,
    /// Short ASCII name used in source names (`motcua-<slug>`).
    pub slug: String,
    agencies: Vec<Agency>,
    procedures: Vec<Procedure>,
    calendar: Calendar,
    /// The communes dossiers belong to, by size: of each district, and of the province before
    /// and after the communes' merger.
    areas: Areas,
}

/// Communes to draw an applicant's from, by size: agency indices and cumulative sizes.
#[derive(Debug, Clone, Default)]
struct Communes {
    index: Vec<u16>,
    cumulative: Vec<f64>,
}

impl Communes {
    fn push(&mut self, index: usize, size: f64) {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        self.index.push(index as u16);
        self.cumulative.push(total + size);
    }

    /// The commune at `x` (in [0, 1)) of the total size.
    fn pick(&self, x: f64) -> Option<u16> {
        let total = *self.cumulative.last()?;
        let i = self.cumulative.partition_point(|&c| c <= x * total);
        self.index.get(i.min(self.index.len() - 1)).copied()
    }
}

#[derive(Debug, Clone, Default)]
struct Areas {
    /// Of each district, by agency index.
    districts: Vec<(usize, Communes)>,
    /// The communes before the merger, and after.
    before: Communes,
    after: Communes,
}

/// A department: (number in its code, name, procedures with a real name as (name, working days)).
type DepartmentSpec = (u32, &'static str, &'static [(&'static str, u32)]);

const DEPARTMENTS: &[DepartmentSpec] = &[
    (
        4,
        "Sở Nội vụ",
        &[
            ("Thẩm định thành lập hội", 15),
            ("Công nhận ban vận động thành lập hội", 10),
        ],
    ),
    (
        17,
        "Sở Tư pháp",
        &[
            ("Cấp phiếu lý lịch tư pháp cho công dân Việt Nam", 10),
            ("Cấp phiếu lý lịch tư pháp cho người nước ngoài", 10),
            ("Đăng ký hành nghề công chứng", 10),
        ],
    ),
    (
        6,
        "Sở Kế hoạch và Đầu tư",
        &[
            ("Đăng ký thành lập công ty TNHH một thành viên", 3),
            ("Đăng ký thay đổi nội dung đăng ký doanh nghiệp", 3),
            ("Đăng ký thành lập doanh nghiệp tư nhân", 3),
        ],
    ),
    (
        7,
        "Sở Tài chính",
        &[("Cấp mã số đơn vị có quan hệ với ngân sách", 2)],
    ),
    (
        8,
        "Sở Công Thương",
        &[
            ("Cấp giấy phép bán lẻ sản phẩm rượu", 10),
            (
                "Cấp giấy chứng nhận đủ điều kiện cửa hàng bán lẻ LPG chai",
                15,
            ),
        ],
    ),
    (
        9,
        "Sở Nông nghiệp và Phát triển nông thôn",
        &[(
            "Cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm nông lâm thủy sản",
            15,
        )],
    ),
    (
        12,
        "Sở Tài nguyên và Môi trường",
        &[
            (
                "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
                10,
            ),
            ("Cấp giấy phép khai thác nước dưới đất", 20),
        ],
    ),
    (
        10,
        "Sở Giao thông vận tải",
        &[
            ("Đổi giấy phép lái xe do ngành Giao thông vận tải cấp", 5),
            ("Cấp phù hiệu xe kinh doanh vận tải", 2),
        ],
    ),
    (
        11,
        "Sở Xây dựng",
        &[
            ("Cấp giấy phép xây dựng mới công trình", 20),
            ("Cấp chứng chỉ hành nghề hoạt động xây dựng", 20),
        ],
    ),
    (
        13,
        "Sở Thông tin và Truyền thông",
        &[("Cấp giấy phép xuất bản bản tin", 10)],
    ),
    (
        14,
        "Sở Lao động - Thương binh và Xã hội",
        &[
            ("Cấp giấy phép lao động cho người lao động nước ngoài", 5),
            (
                "Xác nhận người lao động nước ngoài không thuộc diện cấp giấy phép lao động",
                5,
            ),
        ],
    ),
    (
        15,
        "Sở Văn hóa, Thể thao và Du lịch",
        &[
            ("Cấp giấy phép kinh doanh dịch vụ karaoke", 5),
            ("Cấp thẻ hướng dẫn viên du lịch nội địa", 10),
        ],
    ),
    (
        16,
        "Sở Khoa học và Công nghệ",
        &[(
            "Cấp giấy chứng nhận đăng ký hoạt động khoa học và công nghệ",
            15,
        )],
    ),
    (
        18,
        "Sở Giáo dục và Đào tạo",
        &[("Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", 1)],
    ),
    (
        19,
        "Sở Y tế",
        &[
            ("Cấp chứng chỉ hành nghề khám bệnh, chữa bệnh", 20),
            ("Cấp giấy chứng nhận đủ điều kiện kinh doanh dược", 20),
        ],
    ),
    (20, "Thanh tra tỉnh", &[("Tiếp công dân tại cấp tỉnh", 1)]),
    (
        21,
        "Ban Dân tộc",
        &[(
            "Công nhận người có uy tín trong đồng bào dân tộc thiểu số",
            10,
        )],
    ),
    (
        22,
        "Ban Quản lý các khu công nghiệp",
        &[
            ("Cấp giấy chứng nhận đăng ký đầu tư", 15),
            (
                "Cấp giấy phép lao động cho người nước ngoài làm việc tại khu công nghiệp",
                5,
            ),
        ],
    ),
    (40, "Sở Nông nghiệp và Môi trường", &[]),
    (41, "Sở Dân tộc và Tôn giáo", &[]),
];

/// Departments merged on [`DEPARTMENT_MERGER`]: (code number ending, code number of successor).
/// Successors with code numbers 40 and up are new departments created that day.
const MERGERS: &[(u32, u32)] = &[
    (10, 11),
    (6, 7),
    (13, 16),
    (14, 4),
    (9, 40),
    (12, 40),
    (21, 41),
];

/// District-level people's committees: (name, whose communes are wards).
const DISTRICTS: &[(&str, bool)] = &[
    ("UBND thành phố Vũng Tàu", true),
    ("UBND thành phố Bà Rịa", true),
    ("UBND thị xã Phú Mỹ", true),
    ("UBND huyện Long Điền", false),
    ("UBND huyện Đất Đỏ", false),
    ("UBND huyện Xuyên Mộc", false),
    ("UBND huyện Châu Đức", false),
    ("UBND huyện Côn Đảo", false),
];
const COMMUNES_PER_DISTRICT: u32 = 14;
/// Communes after the 2025 merger (several old communes each).
const NEW_COMMUNES: u32 = 40;
/// One group of old communes in this many gives a part of its last commune to the next new
/// commune (old → new is many-to-many).
const SPLIT_EVERY: usize = 4;
/// The share of a split commune that goes to the next new commune.
const SPLIT_SHARE: f64 = 0.4;

const NAME_FIRST: &[&str] = &[
    "Long", "Phước", "Bình", "Hòa", "Tân", "An", "Suối", "Bàu", "Xuân", "Kim", "Láng", "Phú",
    "Châu", "Ngãi", "Sơn", "Quảng", "Đá", "Bông",
];
const NAME_SECOND: &[&str] = &[
    "Hải", "Hưng", "Thạnh", "Lợi", "Long", "Hiệp", "Nghệ", "Chinh", "Mỹ", "Tâm", "Điền", "Thành",
    "Trung", "Giao", "Hòa", "Thuận", "Bửu", "Tân",
];

/// Commune-level procedures with a real name: (name, working days).
const COMMUNE_PROCEDURES: &[(&str, u32)] = &[
    ("Chứng thực bản sao từ bản chính giấy tờ, văn bản", 1),
    ("Chứng thực chữ ký trong các giấy tờ, văn bản", 1),
    ("Đăng ký khai sinh", 1),
    ("Đăng ký kết hôn", 3),
    ("Đăng ký khai tử", 1),
    ("Cấp giấy xác nhận tình trạng hôn nhân", 3),
    ("Cấp bản sao trích lục hộ tịch", 1),
    (
        "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản",
        2,
    ),
    ("Đăng ký nhận cha, mẹ, con", 3),
    ("Đăng ký giám hộ", 3),
    (
        "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình",
        5,
    ),
    ("Đăng ký hoạt động tín ngưỡng", 20),
];

/// District-level procedures with a real name: (name, working days).
const DISTRICT_PROCEDURES: &[(&str, u32)] = &[
    ("Đăng ký thành lập hộ kinh doanh", 3),
    ("Cấp giấy phép xây dựng nhà ở riêng lẻ", 15),
    ("Cấp giấy chứng nhận quyền sử dụng đất lần đầu", 20),
    (
        "Chuyển mục đích sử dụng đất phải được phép của cơ quan nhà nước",
        15,
    ),
    ("Đăng ký khai sinh có yếu tố nước ngoài", 3),
    ("Đăng ký kết hôn có yếu tố nước ngoài", 15),
    ("Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm", 15),
    ("Thay đổi nội dung đăng ký hộ kinh doanh", 3),
];

/// Number of procedures without a real name per level, to make the catalogue ~150 long.
const EXTRA_PROCEDURES: [(AgencyKind, u32); 3] = [
    (AgencyKind::Department, 55),
    (AgencyKind::District, 22),
    (AgencyKind::Commune, 30),
];

/// Zipf exponent of procedure volumes within a level.
const ZIPF_EXPONENT: f64 = 1.1;

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("reorganisation dates are valid")
}

fn department_code(number: u32) -> String {
    format!("000.00.{number:02}.{PROVINCE_CODE}")
}

fn performance(rng: &mut ChaCha8Rng, kind: AgencyKind) -> Performance {
    let (late_lo, late_hi) = match kind {
        AgencyKind::Department => (0.4, 1.8),
        AgencyKind::District => (0.6, 1.5),
        AgencyKind::Commune => (0.5, 1.4),
    };
    Performance {
        late_factor: rng.random_range(late_lo..late_hi),
        late_trend: rng.random_range(-0.08..0.08),
        apology_rate: rng.random_range(0.35..0.85),
        online_factor: rng.random_range(0.8..1.2),
        size: rng.random_range(0.4..1.6),
    }
}

impl Province {
    /// Builds the province for `seed`: the same seed always gives the same province.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5052_4f56_494e_4345);
        let merger = date(DEPARTMENT_MERGER);
        let abolished = date(DISTRICTS_ABOLISHED);
        let mut agencies = Vec::new();

        for &(number, name, _) in DEPARTMENTS {
            let merged_into = MERGERS.iter().find(|m| m.0 == number).map(|m| m.1);
            agencies.push(Agency {
                code: department_code(number),
                name: name.to_owned(),
                kind: AgencyKind::Department,
                active_from: (number >= 40).then_some(merger),
                active_until: merged_into.and_then(|_| merger.pred_opt()),
                successor: merged_into.map(department_code),
                performance: performance(&mut rng, AgencyKind::Department),
                successor_index: None,
                split_to: None,
                district: None,
                parent: None,
            });
        }
        // A few departments stand out on the charts: two lag behind, one slips after 2022, one
        // improves fast.
        let mut order: Vec<usize> = (0..agencies.len()).collect();
        order.shuffle(&mut rng);
        for &i in &order[..2] {
            agencies[i].performance.late_factor = rng.random_range(2.2..2.8);
        }
        agencies[order[2]].performance.late_trend = 0.35;
        agencies[order[3]].performance.late_factor = 2.0;
        agencies[order[3]].performance.late_trend = -0.3;

        let mut names: Vec<String> = NAME_FIRST
            .iter()
            .flat_map(|a| {
                NAME_SECOND
                    .iter()
                    .filter(move |b| *b != a)
                    .map(move |b| format!("{a} {b}"))
            })
            .collect();
        names.shuffle(&mut rng);
        let mut names = names.into_iter();
        let mut next_name = || names.next().expect("enough commune names for the province");

        let last_old_day = abolished.pred_opt();
        for (d, &(district, wards)) in DISTRICTS.iter().enumerate() {
            let district_no = 51 + d as u32;
            agencies.push(Agency {
                code: department_code(district_no),
                name: district.to_owned(),
                kind: AgencyKind::District,
                active_from: None,
                active_until: last_old_day,
                successor: None,
                performance: performance(&mut rng, AgencyKind::District),
                successor_index: None,
                split_to: None,
                district: None,
                parent: None,
            });
            for c in 1..=COMMUNES_PER_DISTRICT {
                let prefix = if wards { "UBND phường" } else { "UBND xã" };
                agencies.push(Agency {
                    code: format!("000.{district_no:02}.{c:02}.{PROVINCE_CODE}"),
                    name: format!("{prefix} {}", next_name()),
                    kind: AgencyKind::Commune,
                    active_from: None,
                    active_until: last_old_day,
                    successor: None,
                    performance: performance(&mut rng, AgencyKind::Commune),
                    successor_index: None,
                    split_to: None,
                    district: Some(department_code(district_no)),
                    parent: None,
                });
            }
        }
        let first_new_commune = agencies.len();
        for c in 1..=NEW_COMMUNES {
            let prefix = if c % 3 == 0 {
                "UBND phường"
            } else {
                "UBND xã"
            };
            agencies.push(Agency {
                code: format!("000.60.{c:02}.{CITY_CODE}"),
                name: format!("{prefix} {}", next_name()),
                kind: AgencyKind::Commune,
                active_from: Some(abolished),
                active_until: None,
                successor: None,
                performance: performance(&mut rng, AgencyKind::Commune),
                successor_index: None,
                split_to: None,
                district: None,
                parent: Some(PROVINCE_LEVEL[1].0.to_owned()),
            });
        }
        // Old communes each merge into one new commune (by position, several to one).
        let old_communes: Vec<usize> = (0..first_new_commune)
            .filter(|&i| agencies[i].kind == AgencyKind::Commune)
            .collect();
        let per_new = old_communes.len().div_ceil(NEW_COMMUNES as usize);
        let groups = old_communes.len().div_ceil(per_new);
        for (k, &i) in old_communes.iter().enumerate() {
            let group = k / per_new;
            let new = first_new_commune + group;
            agencies[i].successor = Some(agencies[new].code.clone());
            // The last old commune of every fourth group is split: a part of it goes to the
            // next new commune.
            if group.is_multiple_of(SPLIT_EVERY) && k % per_new == per_new - 1 && group + 1 < groups
            {
                agencies[i].split_to = Some((agencies[new + 1].code.clone(), SPLIT_SHARE));
            }
        }
        // The departments of the province on the eve of the city merger merge into the city's
        // departments of the same field (listed last, so that earlier agencies keep their
        // places); the same staff do the work, as well as before.
        for i in 0..DEPARTMENTS.len() {
            if agencies[i].active_until.is_some() {
                continue;
            }
            let (number, name, _) = DEPARTMENTS[i];
            let city = Agency {
                code: format!("000.00.{number:02}.{CITY_CODE}"),
                name: format!("{} {CITY_NAME}", name.trim_end_matches(" tỉnh")),
                kind: AgencyKind::Department,
                active_from: Some(abolished),
                active_until: None,
                successor: None,
                performance: agencies[i].performance,
                successor_index: None,
                split_to: None,
                district: None,
                parent: Some(PROVINCE_LEVEL[1].0.to_owned()),
            };
            agencies[i].active_until = last_old_day;
            agencies[i].successor = Some(city.code.clone());
            agencies.push(city);
        }
        for i in 0..agencies.len() {
            let successor = agencies[i]
                .successor
                .as_ref()
                .and_then(|code| agencies.iter().position(|a| &a.code == code));
            agencies[i].successor_index = successor;
        }

        let procedures = Self::catalogue(&mut rng, &agencies);
        let mut areas = Areas::default();
        for (i, a) in agencies.iter().enumerate() {
            match (a.kind, &a.district) {
                (AgencyKind::District, _) => areas.districts.push((i, Communes::default())),
                (AgencyKind::Commune, Some(district)) => {
                    areas.before.push(i, a.performance.size);
                    if let Some((_, communes)) = areas
                        .districts
                        .iter_mut()
                        .find(|(d, _)| &agencies[*d].code == district)
                    {
                        communes.push(i, a.performance.size);
                    }
                }
                (AgencyKind::Commune, None) => areas.after.push(i, a.performance.size),
                (AgencyKind::Department, _) => {}
            }
        }
        Province {
            name: PROVINCE_NAME.to_owned(),
            slug: PROVINCE_SLUG.to_owned(),
            agencies,
            procedures,
            calendar: Calendar::new(),
            areas,
        }
    }

    /// The agencies of a dossier's other roles, for one of agency `agency` received on `day`
    /// through `channel`, drawn from `x` and `y` (each in [0, 1)): its area (the applicant's
    /// commune, for a district's or a department's dossier; a commune's are its own) and its
    /// receiving point (a service centre, for most departments' dossiers handed in at a counter
    /// or by post; online ones are received by the department).
    pub(crate) fn roles_of(
        &self,
        agency: usize,
        day: NaiveDate,
        channel: parwatch_proto::Channel,
        (x, y): (f64, f64),
    ) -> (Option<&'static str>, Option<u16>) {
        let abolished = day >= date(DISTRICTS_ABOLISHED);
        let (area, receiving) = match self.agencies[agency].kind {
            AgencyKind::Commune => (None, None),
            AgencyKind::District => {
                let communes = self.areas.districts.iter().find(|(d, _)| *d == agency);
                (communes.and_then(|(_, c)| c.pick(x)), None)
            }
            AgencyKind::Department => {
                let communes = if abolished {
                    &self.areas.after
                } else {
                    &self.areas.before
                };
                let at_centre = channel != parwatch_proto::Channel::Online && y < AT_SERVICE_CENTRE;
                let centre = SERVICE_CENTRES[usize::from(abolished)].0;
                (communes.pick(x), at_centre.then_some(centre))
            }
        };
        (receiving, area)
    }

    /// The Public Administration Service Centres that receive dossiers for the departments, as
    /// (code, Vietnamese name): the province's, then (from 1 July 2025) the city's.
    pub fn service_centres(&self) -> [(&'static str, &'static str); 2] {
        SERVICE_CENTRES
    }

    fn catalogue(rng: &mut ChaCha8Rng, agencies: &[Agency]) -> Vec<Procedure> {
        let mut procedures = Vec::new();
        let mut push =
            |name: String, level: AgencyKind, working_days: u32, owner: Option<usize>| {
                procedures.push(Procedure {
                    code: String::new(),
                    name,
                    level,
                    working_days,
                    weight: 0.0,
                    owner,
                });
            };
        // Departments are the first agencies, in the order of DEPARTMENTS.
        for (i, &(_, _, named)) in DEPARTMENTS.iter().enumerate() {
            for &(name, days) in named {
                push(name.to_owned(), AgencyKind::Department, days, Some(i));
            }
        }
        for &(name, days) in DISTRICT_PROCEDURES {
            push(name.to_owned(), AgencyKind::District, days, None);
        }
        for &(name, days) in COMMUNE_PROCEDURES {
            push(name.to_owned(), AgencyKind::Commune, days, None);
        }
        // Departments existing since before the merger own the unnamed department procedures.
        let owners: Vec<usize> = (0..DEPARTMENTS.len())
            .filter(|&i| agencies[i].active_from.is_none())
            .collect();
        for (level, count) in EXTRA_PROCEDURES {
            for _ in 0..count {
                let owner = (level == AgencyKind::Department)
                    .then(|| owners[rng.random_range(0..owners.len())]);
                let days = rng.random_range(1..=20);
                let name = match owner {
                    Some(o) => format!("Thủ tục hành chính thuộc {}", agencies[o].name),
                    None if level == AgencyKind::District => {
                        "Thủ tục hành chính cấp huyện".to_owned()
                    }
                    None => "Thủ tục hành chính cấp xã".to_owned(),
                };
                push(name, level, days, owner);
            }
        }

        let mut codes: Vec<u32> = Vec::with_capacity(procedures.len());
        while codes.len() < procedures.len() {
            let code = rng.random_range(1_000..13_000);
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        for (procedure, code) in procedures.iter_mut().zip(codes) {
            procedure.code = format!("1.{code:06}");
        }
        // Zipf ranks within each level; the named procedures (listed first) rank highest.
        for level in [
            AgencyKind::Department,
            AgencyKind::District,
            AgencyKind::Commune,
        ] {
            let members: Vec<usize> = (0..procedures.len())
                .filter(|&i| procedures[i].level == level)
                .collect();
            let named = members
                .iter()
                .filter(|&&i| !procedures[i].name.starts_with("Thủ tục hành chính"))
                .count();
            let mut ranks: Vec<usize> = (1..=members.len()).collect();
            ranks[..named].shuffle(rng);
            ranks[named..].shuffle(rng);
            for (&i, rank) in members.iter().zip(ranks) {
                procedures[i].weight = 1.0 / (rank as f64).powf(ZIPF_EXPONENT);
            }
        }
        procedures
    }

    /// Every agency that existed at some point, departments first, then each district followed
    /// by its communes, then the communes created in 2025.
    pub fn agencies(&self) -> &[Agency] {
        &self.agencies
    }

    /// The people's committees of the province and of the city it became part of on 1 July
    /// 2025, as (code, Vietnamese name, English name): units of the registry only.
    pub fn province_level(&self) -> [(&'static str, &'static str, &'static str); 2] {
        PROVINCE_LEVEL
    }

    /// The code of agency `index`: one of [`Province::agencies`], or past them one of
    /// [`Province::province_level`] then of [`Province::service_centres`] (which only
    /// registry events and receipts name).
    pub(crate) fn code_of(&self, index: usize) -> &str {
        match self.agencies.get(index) {
            Some(agency) => &agency.code,
            None => {
                let past = index - self.agencies.len();
                match PROVINCE_LEVEL.get(past) {
                    Some(level) => level.0,
                    None => SERVICE_CENTRES[past - PROVINCE_LEVEL.len()].0,
                }
            }
        }
    }

    /// The procedure catalogue.
    pub fn procedures(&self) -> &[Procedure] {
        &self.procedures
    }

    /// The calendar of working days and holidays.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The department that handles a dossier of a department-level `procedure` on `date`:
    /// its owner, or the owner's successor once the owner was merged.
    pub(crate) fn owning_department(
        &self,
        procedure: &Procedure,
        date: NaiveDate,
    ) -> Option<usize> {
        let mut owner = procedure.owner?;
        while !self.agencies[owner].is_active(date) {
            owner = self.agencies[owner].successor_index?;
        }
        Some(owner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn agencies_have_unique_codes_and_live_successors() {
        let province = Province::new(1);
        let agencies = province.agencies();
        let codes: HashSet<&str> = agencies.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes.len(), agencies.len());
        for agency in agencies {
            if let (Some(until), Some(successor)) = (agency.active_until, &agency.successor) {
                let next = agencies.iter().find(|a| &a.code == successor).unwrap();
                assert!(
                    next.is_active(until.succ_opt().unwrap()),
                    "{} → {}",
                    agency.code,
                    next.code
                );
            }
        }
        let departments_on = |day: NaiveDate| {
            agencies
                .iter()
                .filter(|a| a.kind == AgencyKind::Department && a.is_active(day))
                .count()
        };
        assert_eq!(departments_on(date((2024, 12, 31))), 18);
        assert_eq!(departments_on(date((2025, 3, 1))), 13);
        // On 1 July 2025 the 13 became the city's, under new codes.
        let city: Vec<&Agency> = agencies
            .iter()
            .filter(|a| a.kind == AgencyKind::Department && a.is_active(date((2025, 7, 1))))
            .collect();
        assert_eq!(city.len(), 13);
        assert!(city.iter().all(|a| a.code.ends_with(".H29")));
        assert_eq!(departments_on(date((2025, 6, 30))), 13);
        let justice = agencies.iter().find(|a| a.code == "000.00.17.H02").unwrap();
        assert_eq!(justice.successor.as_deref(), Some("000.00.17.H29"));
        let inspectorate = agencies.iter().find(|a| a.code == "000.00.20.H29").unwrap();
        assert_eq!(inspectorate.name, "Thanh tra Thành phố Hồ Chí Minh");
        assert_eq!(province.code_of(agencies.len() + 1), "000.00.00.H29");
    }

    #[test]
    fn catalogue_is_skewed() {
        let province = Province::new(1);
        let procedures = province.procedures();
        assert!(
            (140..=160).contains(&procedures.len()),
            "{}",
            procedures.len()
        );
        let codes: HashSet<&str> = procedures.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes.len(), procedures.len());
        assert!(
            procedures
                .iter()
                .all(|p| p.code.len() == 8 && p.code.starts_with("1."))
        );
        assert!(
            procedures
                .iter()
                .all(|p| (1..=20).contains(&p.working_days))
        );
        let mut weights: Vec<f64> = procedures
            .iter()
            .filter(|p| p.level == AgencyKind::Commune)
            .map(|p| p.weight)
            .collect();
        weights.sort_by(|a, b| b.total_cmp(a));
        let total: f64 = weights.iter().sum();
        let top: f64 = weights[..weights.len() / 10].iter().sum();
        assert!(
            top / total > 0.5,
            "top 10% of commune procedures carry {}",
            top / total
        );
    }

    #[test]
    fn same_seed_same_province() {
        let (a, b, c) = (Province::new(3), Province::new(3), Province::new(4));
        let names = |p: &Province| {
            p.agencies()
                .iter()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_ne!(names(&a), names(&c));
    }
}
