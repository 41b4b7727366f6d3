// ParWatch UI text in Vietnamese (the default) and English, and the number and date formats
// of each: numbers as Intl formats them for the language, dates always dd/mm/yyyy, times in
// the province's time zone.

const TZ = 'Asia/Ho_Chi_Minh';
const LANG_KEY = 'parwatch.lang';

const TEXT = {
  vi: {
    tagline: 'Theo dõi cải cách hành chính',
    nav_ranking: 'Xếp hạng',
    nav_reports: 'Báo cáo định kỳ',
    suppressed_point: 'x: không công bố vì quá ít hồ sơ (bảo vệ thông tin cá nhân)',
    reports_title: 'Báo cáo định kỳ',
    reports_hint: 'Xem trước số liệu của một kỳ, ban hành (quản trị viên: số liệu được đóng băng cùng phiên bản dữ liệu đã đọc), xem các báo cáo đã ban hành và những thay đổi từ khi ban hành, tải XLSX hoặc PDF.',
    report: 'Báo cáo',
    report_period: 'Kỳ báo cáo',
    period_year: 'Năm {y}',
    period_h1: '6 tháng đầu năm {y}',
    period_h2: '6 tháng cuối năm {y}',
    report_publish: 'Ban hành',
    report_publishing: 'Đang ban hành…',
    report_published_as: 'Đã ban hành {id} (phiên bản dữ liệu {v}).',
    report_xlsx: 'Tải XLSX',
    report_pdf: 'Tải PDF',
    report_preview: 'Xem trước (số liệu hiện tại, chưa ban hành)',
    reports_published: 'Báo cáo đã ban hành',
    reports_none_published: 'Chưa có báo cáo nào được ban hành.',
    report_published_one: 'Báo cáo đã ban hành',
    report_frozen: '{id} · ban hành lúc {at} bởi {by} · dấu số liệu {d}',
    report_meta: 'Từ {from} đến {to} · phiên bản dữ liệu {v}',
    report_public: 'công khai: ẩn ô dưới {k} hồ sơ',
    report_suppressed: 'Số liệu được ẩn để bảo vệ thông tin cá nhân',
    report_suppressed_note: '{x}: số liệu không công bố để bảo vệ thông tin cá nhân (dưới {k} hồ sơ, hoặc ô được ẩn thêm để không suy ra được ô đã ẩn từ tổng số hay tỷ lệ).',
    report_total: 'Tổng cộng',
    report_month: 'Tháng',
    report_version: 'Phiên bản dữ liệu',
    report_published_at: 'Ban hành lúc',
    report_by: 'Người ban hành',
    report_changes: 'Thay đổi từ khi ban hành',
    report_changes_intro: 'Ban hành ở phiên bản {p}, hiện tại là phiên bản {c}; {n} sự kiện được ghi nhận sau khi ban hành.',
    report_no_changes: 'Số liệu không thay đổi từ khi ban hành.',
    report_table: 'Biểu',
    report_row: 'Dòng',
    report_column: 'Cột',
    report_published_value: 'Đã ban hành',
    report_now: 'Hiện tại',
    report_causes: 'Sự kiện gây thay đổi',
    report_causes_n: '{n} sự kiện',
    nav_sql: 'Truy vấn SQL',
    lang_switch: 'English',
    token: 'Mã truy cập API',
    token_placeholder: 'Dán mã truy cập (nếu có)',
    token_save: 'Lưu',
    token_saved: 'Đã lưu mã truy cập.',
    token_cleared: 'Đã xoá mã truy cập.',
    updated_at: 'Cập nhật lúc {t}',
    update_failed: 'Không cập nhật được: {e}',
    data_updated: 'Đã có dữ liệu mới (cập nhật lúc {t})',
    update_restored: 'Đã cập nhật lại được',
    loading: 'Đang tải…',
    no_data: 'Chưa có dữ liệu',
    error: 'Lỗi',
    dashboard_error: 'Tệp bảng điều khiển vừa sửa có lỗi, đang dùng bản trước: {e}',
    period: 'Khoảng thời gian',
    from: 'Từ ngày',
    to: 'Đến ngày',
    apply: 'Áp dụng',
    date_placeholder: 'dd/mm/yyyy',
    bad_date: 'Ngày không hợp lệ: {d} (dạng dd/mm/yyyy)',
    bad_range: 'Ngày bắt đầu phải trước ngày kết thúc',
    preset_30d: '30 ngày',
    preset_90d: '90 ngày',
    preset_12m: '12 tháng',
    preset_2y: '2 năm',
    preset_1y: 'Từ đầu năm',
    bucket: 'Gộp theo',
    bucket_default: 'Mặc định',
    bucket_day: 'Ngày',
    bucket_week: 'Tuần',
    bucket_month: 'Tháng',
    bucket_quarter: 'Quý',
    bucket_year: 'Năm',
    agency: 'Cơ quan, đơn vị',
    whole_province: 'Toàn tỉnh',
    compare: 'So sánh với',
    compare_add: '+ Thêm cơ quan, đơn vị',
    remove: 'Bỏ',
    choose_agency: 'Chọn một cơ quan, đơn vị để xem chi tiết',
    vs_previous: 'so với kỳ trước',
    previous_value: 'Kỳ trước ({from} – {to}): {v}',
    target: 'Chỉ tiêu',
    target_met: 'Đạt',
    target_missed: 'Chưa đạt',
    points: 'điểm %',
    dossiers: 'hồ sơ',
    days: 'ngày',
    median_of: 'trên {n} hồ sơ',
    download_csv: 'Tải CSV',
    chart_line: 'biểu đồ đường',
    chart_bar: 'biểu đồ cột',
    chart_name: '{title} ({kind}, {from} – {to})',
    chart_empty: '{title} ({kind}, chưa có dữ liệu)',
    chart_table: 'Bảng số liệu',
    chart_bucket: 'Kỳ',
    change_up: 'Tăng',
    change_down: 'Giảm',
    change_none: 'Không đổi',
    units: 'Đơn vị hành chính',
    units_as_recorded: 'Như ghi nhận',
    units_restated: 'Quy đổi theo đơn vị ngày {d}',
    units_restated_to: 'Quy đổi theo đơn vị ngày',
    units_date: 'Ngày của các đơn vị',
    units_hint_recorded: 'Mỗi số liệu thuộc cơ quan, đơn vị đã ghi nhận nó vào thời điểm đó.',
    units_hint_restated: 'Số liệu các kỳ trước được quy đổi theo phân cấp, sáp nhập, chia tách về các đơn vị tồn tại ngày {d}; tỷ lệ tính lại từ tử số và mẫu số đã quy đổi.',
    breaks_title: 'Thay đổi đơn vị',
    break_registered: 'Thành lập',
    break_renamed: 'Đổi tên',
    break_merged: 'Sáp nhập',
    break_split: 'Chia tách',
    break_dissolved: 'Giải thể',
    break_changes: '{n} thay đổi',
    rank: 'Hạng',
    value: 'Giá trị',
    ratio: 'Tử số/Mẫu số',
    previous_rank: 'Hạng kỳ trước',
    change: 'Thay đổi',
    up_n: '▲ {n} bậc',
    down_n: '▼ {n} bậc',
    unchanged: 'Giữ nguyên',
    unranked: 'Chưa xếp hạng',
    rank_of: 'Hạng {r}/{n}',
    show_all: 'Xem cả {n} cơ quan, đơn vị',
    metric: 'Chỉ số',
    ranking_title: 'Xếp hạng cơ quan, đơn vị',
    ranking_hint: 'Xếp từ tốt nhất; so với kỳ trước cùng độ dài ({from} – {to}). Bấm vào một dòng để xem chi tiết.',
    back_to_ranking: '← Về bảng xếp hạng',
    quality_freshness: 'Độ mới của dữ liệu',
    newest_event: 'Sự kiện mới nhất xảy ra lúc',
    last_landed: 'Dữ liệu ghi gần nhất lúc',
    consumer_lag: 'Sự kiện đang chờ tiếp nhận',
    worker_absent: 'Không chạy trong tiến trình này',
    complete_until: 'Đầy đủ đến',
    partitions_title: 'Các phân vùng của luồng sự kiện',
    partition: 'Phân vùng',
    position: 'Vị trí đã lưu',
    epoch: 'Lượt nắm giữ',
    lag: 'Chưa lưu (tin nhắn)',
    events_total: 'Sự kiện đã lưu',
    dossiers_total: 'Hồ sơ',
    agencies_total: 'Cơ quan, đơn vị',
    rejected_total: 'Sự kiện bị từ chối (tổng)',
    duplicates: 'Bản trùng đã bỏ qua',
    ago: '{t} trước',
    sql_title: 'Truy vấn SQL',
    sql_hint: 'Chỉ truy vấn đọc: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE. Ctrl+Enter để chạy.',
    sql_examples: 'Ví dụ',
    run: 'Chạy',
    sql_from_link: 'Truy vấn này đến từ một liên kết và chưa được chạy: hãy đọc kỹ rồi bấm Chạy.',
    running: 'Đang chạy…',
    rows_n: '{n} dòng · {ms} ms',
    rows_shown: 'Hiển thị {n} dòng đầu; tải CSV để có tất cả.',
    refused_title: 'Không thể hiển thị bảng điều khiển nhúng',
    refused_missing: 'Đường dẫn thiếu mã nhúng.',
    refused_expired: 'Mã nhúng đã hết hạn. Hãy đề nghị quản trị viên cấp mã mới.',
    refused_bad_signature: 'Mã nhúng không hợp lệ (đã bị sửa hoặc không do máy chủ này cấp).',
    refused_malformed: 'Mã nhúng không đúng định dạng.',
    refused_other: 'Yêu cầu bị từ chối.',
    embed_source: 'Nguồn: ParWatch',
    q: 'Quý {q}/{y}',
    week_of: 'Tuần từ {d}',
    month_of: 'Tháng {m}',
    year_of: 'Năm {y}',
    nav_par: 'Chỉ số CCHC',
    par_title: 'Chỉ số cải cách hành chính',
    par_hint: 'Xếp hạng trong cùng khối. Khi năm chưa có kết quả thẩm định, hạng và chỉ số dự kiến tính các tiêu chí chưa chấm theo điểm năm trước. Bấm vào một dòng để xem chi tiết.',
    par_year: 'Năm',
    par_kind: 'Khối',
    kind_department: 'Sở, ban, ngành',
    kind_district: 'UBND cấp huyện',
    kind_commune: 'UBND cấp xã',
    par_index: 'Chỉ số',
    par_projected: 'Dự kiến',
    par_rank_projected: 'Hạng (dự kiến)',
    par_points: '{v} điểm',
    par_of_max: '{v}/{max} điểm',
    par_rank_of: 'Hạng {r}/{n}',
    par_projected_line: 'Dự kiến: {v} điểm, hạng {r}/{n}',
    par_counts: '{a} tiêu chí đã chấm · {d} tính từ số liệu · {m} chưa có',
    par_components: 'Các lĩnh vực so với điểm tối đa',
    par_component_rank: 'hạng {r}',
    par_criteria: 'Tiêu chí, mất điểm nhiều nhất trước',
    par_trend: 'Diễn biến qua các năm',
    par_trend_index: 'Chỉ số',
    par_trend_rank: 'Hạng (1 là cao nhất)',
    par_component: 'Lĩnh vực',
    par_criterion: 'Tiêu chí',
    par_max: 'Tối đa',
    par_score: 'Đạt',
    par_lost: 'Mất',
    par_status: 'Nguồn điểm',
    par_derived: 'Tính từ số liệu',
    par_missing: 'Chưa có điểm',
    par_from_last_year: 'dự kiến {v} theo năm trước',
    par_back: '← Về bảng Chỉ số CCHC',
    par_of_agency: 'Chỉ số CCHC của cơ quan, đơn vị này',
    par_agency_metrics: 'Số liệu của cơ quan, đơn vị →',
    par_unknown: 'Điểm cho tiêu chí không có trong bộ tiêu chí: {c}',
    assessor_self: 'Tự đánh giá',
    assessor_appraisal: 'Thẩm định',
    assessor_inspection: 'Kiểm tra',
    assessor_survey: 'Điều tra XHH',
    nav_index766: 'Chỉ số 766',
    i766_title: 'Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766)',
    i766_hint: 'Điểm theo tháng, quý, năm trên 100, tính từ sự kiện hồ sơ; chỉ tiêu không có số liệu không được tính. Bấm vào một dòng để xem mất điểm ở đâu.',
    i766_period: 'Kỳ',
    i766_period_hint: 'Tháng 2025-03, quý 2025-Q1 hoặc năm 2025',
    i766_show: 'Xem',
    i766_total: 'Tổng điểm',
    i766_points_with_data: 'Điểm / tối đa của chỉ tiêu có số liệu',
    i766_no_data: 'chưa có số liệu',
    i766_back: '← Về bảng Chỉ số 766',
    i766_indicators: 'Các chỉ tiêu so với điểm tối đa',
    i766_indicator: 'Chỉ tiêu',
    i766_points: 'Điểm',
    i766_ratio: 'Đạt / tổng',
    i766_items: 'Mục mất điểm',
    i766_lost_title: 'Mất điểm ở đâu',
    i766_nothing_lost: 'Không có mục nào mất điểm.',
    i766_more: 'Hiển thị {n}/{total} mục; tải CSV để có đầy đủ.',
    i766_subject: 'Loại',
    i766_id: 'Mã',
    i766_reason: 'Lý do',
    i766_at: 'Thời điểm',
    i766_due: 'Hẹn trả / hạn',
    i766_subject_dossier: 'Hồ sơ',
    i766_subject_petition: 'Phản ánh, kiến nghị',
    i766_subject_procedure: 'Thủ tục',
    i766_reason_late: 'Trễ hạn (đã trừ thời gian bổ sung)',
    i766_reason_second_supplement: 'Yêu cầu bổ sung lần hai',
    i766_reason_open_late: 'Đang giải quyết, quá hạn cuối kỳ',
    i766_reason_not_synced: 'Chưa đồng bộ lên Cổng DVCQG',
    i766_reason_not_online: 'Không trực tuyến',
    i766_reason_not_digitised: 'Chưa số hóa',
    i766_reason_not_reused: 'Không tái sử dụng dữ liệu',
    i766_reason_not_electronic: 'Kết quả không điện tử',
    i766_reason_paid_offline: 'Nộp phí không trực tuyến',
    i766_reason_dissatisfied: 'Không hài lòng',
    i766_reason_answered_late: 'Trả lời quá hạn',
    i766_reason_overdue: 'Quá hạn chưa trả lời',
    i766_reason_not_published: 'Chưa công bố',
    i766_reason_not_publicised: 'Chưa công khai',
    i766_reason_incomplete: 'Công khai chưa đầy đủ',
    i766_portal: 'Cổng DVCQG',
    i766_difference: 'Chênh lệch',
    i766_portal_total: 'Tổng điểm trên Cổng DVCQG',
    i766_portal_only: '(chỉ Cổng DVCQG có)',
    i766_portal_from: 'Số liệu Cổng Dịch vụ công quốc gia: {source}, nhập lúc {at}. Chênh lệch = điểm ParWatch − điểm Cổng.',
    i766_portal_none: 'Chưa nhập số liệu Cổng Dịch vụ công quốc gia cho tháng {p} (parwatch index-766 import).',
    i766_portal_agency_none: 'Số liệu Cổng Dịch vụ công quốc gia tháng {p} không có cơ quan này.',
    i766_portal_monthly: 'Cổng Dịch vụ công quốc gia công bố số liệu theo tháng: chọn một tháng để đối chiếu.',
  },
  en: {
    tagline: 'Public-administration reform monitor',
    nav_ranking: 'Ranking',
    nav_reports: 'Periodic reports',
    suppressed_point: 'x: withheld, too few dossiers (personal information protected)',
    reports_title: 'Periodic reports',
    reports_hint: 'Preview a period\'s figures, publish them (admins: the figures are frozen with the data version read), browse the published reports and what changed since, download XLSX or PDF.',
    report: 'Report',
    report_period: 'Period',
    period_year: 'Year {y}',
    period_h1: 'First half of {y}',
    period_h2: 'Second half of {y}',
    report_publish: 'Publish',
    report_publishing: 'Publishing…',
    report_published_as: 'Published {id} (data version {v}).',
    report_xlsx: 'Download XLSX',
    report_pdf: 'Download PDF',
    report_preview: 'Preview (figures now, not published)',
    reports_published: 'Published reports',
    reports_none_published: 'No report has been published yet.',
    report_published_one: 'Published report',
    report_frozen: '{id} · published at {at} by {by} · figures {d}',
    report_meta: 'From {from} to {to} · data version {v}',
    report_public: 'public: cells under {k} dossiers hidden',
    report_suppressed: 'Hidden to protect personal information',
    report_suppressed_note: '{x}: not published to protect personal information (fewer than {k} dossiers, or hidden as well so that totals and rates cannot give such a cell back).',
    report_total: 'Total',
    report_month: 'Month',
    report_version: 'Data version',
    report_published_at: 'Published at',
    report_by: 'Published by',
    report_changes: 'Changes since publication',
    report_changes_intro: 'Published at version {p}, now version {c}; {n} events ingested since.',
    report_no_changes: 'No figure has changed since publication.',
    report_table: 'Table',
    report_row: 'Row',
    report_column: 'Column',
    report_published_value: 'Published',
    report_now: 'Now',
    report_causes: 'Events behind it',
    report_causes_n: '{n} events',
    nav_sql: 'SQL console',
    lang_switch: 'Tiếng Việt',
    token: 'API token',
    token_placeholder: 'Paste an access token (if any)',
    token_save: 'Save',
    token_saved: 'Token saved.',
    token_cleared: 'Token cleared.',
    updated_at: 'Updated at {t}',
    update_failed: 'Could not update: {e}',
    data_updated: 'New data shown (updated at {t})',
    update_restored: 'Updating again',
    loading: 'Loading…',
    no_data: 'No data yet',
    error: 'Error',
    dashboard_error: 'An edited dashboard file has an error; the previous version stays in use: {e}',
    period: 'Period',
    from: 'From',
    to: 'To',
    apply: 'Apply',
    date_placeholder: 'dd/mm/yyyy',
    bad_date: 'Not a date: {d} (dd/mm/yyyy)',
    bad_range: 'The start must come before the end',
    preset_30d: '30 days',
    preset_90d: '90 days',
    preset_12m: '12 months',
    preset_2y: '2 years',
    preset_1y: 'Year to date',
    bucket: 'Group by',
    bucket_default: 'Default',
    bucket_day: 'Day',
    bucket_week: 'Week',
    bucket_month: 'Month',
    bucket_quarter: 'Quarter',
    bucket_year: 'Year',
    agency: 'Agency',
    whole_province: 'Whole province',
    compare: 'Compare with',
    compare_add: '+ Add an agency',
    remove: 'Remove',
    choose_agency: 'Choose an agency to see it in detail',
    vs_previous: 'vs previous period',
    previous_value: 'Previous period ({from} – {to}): {v}',
    target: 'Target',
    target_met: 'Met',
    target_missed: 'Not met',
    points: 'pts',
    dossiers: 'dossiers',
    days: 'days',
    median_of: 'over {n} dossiers',
    download_csv: 'Download CSV',
    chart_line: 'line chart',
    chart_bar: 'bar chart',
    chart_name: '{title} ({kind}, {from} – {to})',
    chart_empty: '{title} ({kind}, no data yet)',
    chart_table: 'Data table',
    chart_bucket: 'Period',
    change_up: 'Up',
    change_down: 'Down',
    change_none: 'No change',
    units: 'Units',
    units_as_recorded: 'As recorded',
    units_restated: 'Restated to the units of {d}',
    units_restated_to: 'Restated to the units of',
    units_date: 'Date of the units',
    units_hint_recorded: 'Each figure under the agency that recorded it at the time.',
    units_hint_restated: 'Earlier figures carried through mergers and splits to the units existing on {d}; rates recomputed from restated numerators and denominators.',
    breaks_title: 'Changes of units',
    break_registered: 'Established',
    break_renamed: 'Renamed',
    break_merged: 'Merged',
    break_split: 'Split',
    break_dissolved: 'Dissolved',
    break_changes: '{n} changes',
    rank: 'Rank',
    value: 'Value',
    ratio: 'Numerator/denominator',
    previous_rank: 'Previous rank',
    change: 'Change',
    up_n: '▲ {n} places',
    down_n: '▼ {n} places',
    unchanged: 'No change',
    unranked: 'Unranked',
    rank_of: 'Rank {r} of {n}',
    show_all: 'Show all {n} agencies',
    metric: 'Metric',
    ranking_title: 'Agency ranking',
    ranking_hint: 'Best first; compared with the previous period of the same length ({from} – {to}). Click a row for the agency in detail.',
    back_to_ranking: '← Back to the ranking',
    quality_freshness: 'Data freshness',
    newest_event: 'Newest event happened at',
    last_landed: 'Data last written at',
    consumer_lag: 'Events waiting to be ingested',
    worker_absent: 'Not running in this process',
    complete_until: 'Complete until',
    partitions_title: 'Partitions of the event stream',
    partition: 'Partition',
    position: 'Stored up to',
    epoch: 'Claim',
    lag: 'Not stored yet (messages)',
    events_total: 'Events stored',
    dossiers_total: 'Dossiers',
    agencies_total: 'Agencies',
    rejected_total: 'Events rejected (all time)',
    duplicates: 'Duplicates skipped',
    ago: '{t} ago',
    sql_title: 'SQL console',
    sql_hint: 'Read-only queries: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE. Ctrl+Enter runs.',
    sql_examples: 'Examples',
    run: 'Run',
    sql_from_link: 'This query came with a link and has not run: read it, then press Run.',
    running: 'Running…',
    rows_n: '{n} rows · {ms} ms',
    rows_shown: 'Showing the first {n} rows; download the CSV for all.',
    refused_title: 'This embedded dashboard cannot be shown',
    refused_missing: 'The address has no embed token.',
    refused_expired: 'The embed token has expired. Ask the administrator for a new one.',
    refused_bad_signature: 'The embed token is not valid (altered, or not issued by this server).',
    refused_malformed: 'The embed token is malformed.',
    refused_other: 'The request was refused.',
    embed_source: 'Source: ParWatch',
    q: 'Q{q} {y}',
    week_of: 'Week of {d}',
    month_of: '{m}',
    year_of: '{y}',
    nav_par: 'PAR Index',
    par_title: 'Public Administration Reform Index',
    par_hint: 'Ranked among agencies of the same kind. Until the appraisal is in, the projected index and rank count criteria not yet scored at last year\'s points. Click a row for the agency in detail.',
    par_year: 'Year',
    par_kind: 'Kind',
    kind_department: 'Departments',
    kind_district: 'Districts',
    kind_commune: 'Communes',
    par_index: 'Index',
    par_projected: 'Projected',
    par_rank_projected: 'Rank (projected)',
    par_points: '{v} points',
    par_of_max: '{v}/{max} points',
    par_rank_of: 'Rank {r} of {n}',
    par_projected_line: 'Projected: {v} points, rank {r} of {n}',
    par_counts: '{a} criteria scored · {d} derived from data · {m} missing',
    par_components: 'Components against their maxima',
    par_component_rank: 'rank {r}',
    par_criteria: 'Criteria, most points lost first',
    par_trend: 'Over the years',
    par_trend_index: 'Index',
    par_trend_rank: 'Rank (1 is best)',
    par_component: 'Component',
    par_criterion: 'Criterion',
    par_max: 'Max',
    par_score: 'Points',
    par_lost: 'Lost',
    par_status: 'Source',
    par_derived: 'Derived from data',
    par_missing: 'Not scored yet',
    par_from_last_year: 'projected {v} from last year',
    par_back: '← Back to the PAR Index',
    par_of_agency: 'This agency\'s PAR Index',
    par_agency_metrics: 'The agency\'s metrics →',
    par_unknown: 'Scores for criteria not in the rubric: {c}',
    assessor_self: 'Self-assessment',
    assessor_appraisal: 'Appraisal',
    assessor_inspection: 'Inspection',
    assessor_survey: 'Survey',
    nav_index766: '766 index',
    i766_title: 'Service index (Decision 766)',
    i766_hint: 'Monthly, quarterly and yearly scores out of 100, computed from the dossier events; indicators without data are left out. Click a row to see where points are lost.',
    i766_period: 'Period',
    i766_period_hint: 'A month 2025-03, a quarter 2025-Q1 or a year 2025',
    i766_show: 'Show',
    i766_total: 'Total',
    i766_points_with_data: 'Points / maximum of the indicators with data',
    i766_no_data: 'no data',
    i766_back: '← Back to the 766 index',
    i766_indicators: 'Indicators against their maxima',
    i766_indicator: 'Indicator',
    i766_points: 'Points',
    i766_ratio: 'Met / counted',
    i766_items: 'Items that cost points',
    i766_lost_title: 'Where the points are lost',
    i766_nothing_lost: 'Nothing cost points.',
    i766_more: 'Showing {n} of {total} items; download the CSV for all.',
    i766_subject: 'Kind',
    i766_id: 'Id',
    i766_reason: 'Reason',
    i766_at: 'When',
    i766_due: 'Appointment / deadline',
    i766_subject_dossier: 'Dossier',
    i766_subject_petition: 'Petition',
    i766_subject_procedure: 'Procedure',
    i766_reason_late: 'Late (supplement time excluded)',
    i766_reason_second_supplement: 'Second supplement request',
    i766_reason_open_late: 'Open and late at the period\'s end',
    i766_reason_not_synced: 'Not synced to the national portal',
    i766_reason_not_online: 'Not online',
    i766_reason_not_digitised: 'Not digitised',
    i766_reason_not_reused: 'No data reused',
    i766_reason_not_electronic: 'Result not electronic',
    i766_reason_paid_offline: 'Fee paid offline',
    i766_reason_dissatisfied: 'Dissatisfied',
    i766_reason_answered_late: 'Answered late',
    i766_reason_overdue: 'Overdue, unanswered',
    i766_reason_not_published: 'Not published',
    i766_reason_not_publicised: 'Not publicised',
    i766_reason_incomplete: 'Publicised incompletely',
    i766_portal: 'Portal',
    i766_difference: 'Difference',
    i766_portal_total: 'Total on the national portal',
    i766_portal_only: '(the portal only)',
    i766_portal_from: 'The national public-service portal\'s figures: {source}, imported {at}. Difference = ParWatch\'s points − the portal\'s.',
    i766_portal_none: 'No figures of the national public-service portal imported for {p} (parwatch index-766 import).',
    i766_portal_agency_none: 'The national public-service portal\'s figures for {p} do not include this agency.',
    i766_portal_monthly: 'The national public-service portal publishes monthly figures: choose a month to compare.',
  },
};

// Names of the metric catalogue; a metric missing here shows its API name.
const METRICS = {
  vi: {
    received: 'Hồ sơ tiếp nhận',
    online_uptake: 'Tỷ lệ tiếp nhận trực tuyến',
    full_online_share: 'Tỷ lệ trực tuyến toàn trình',
    postal_share: 'Tỷ lệ qua bưu chính công ích',
    resolved: 'Hồ sơ đã giải quyết',
    on_time_rate: 'Tỷ lệ giải quyết đúng hạn',
    late_files: 'Hồ sơ trễ hạn',
    apology_rate: 'Tỷ lệ trễ hạn có văn bản xin lỗi',
    apology_timely_rate: 'Tỷ lệ xin lỗi trước ngày hẹn trả',
    digitized_share: 'Tỷ lệ số hóa kết quả',
    overdue_backlog: 'Hồ sơ quá hạn chưa giải quyết',
    processing_days_p50: 'Thời gian giải quyết (trung vị)',
    plan_completion: 'Hoàn thành kế hoạch CCHC',
    tasks_on_time: 'Nhiệm vụ đúng hạn',
  },
  en: {
    received: 'Dossiers received',
    online_uptake: 'Online uptake',
    full_online_share: 'Full-online share',
    postal_share: 'Postal share',
    resolved: 'Dossiers resolved',
    on_time_rate: 'On-time rate',
    late_files: 'Late dossiers',
    apology_rate: 'Apology rate',
    apology_timely_rate: 'Apologies before the missed date',
    digitized_share: 'Digitised results',
    overdue_backlog: 'Overdue backlog',
    processing_days_p50: 'Processing time (median)',
    plan_completion: 'PAR plan completion',
    tasks_on_time: 'Tasks on time',
  },
};

// Column names of the SQL panels and tables, where a friendlier name exists.
const COLUMNS = {
  vi: {
    day: 'Ngày', events: 'Sự kiện', rejected: 'Bị từ chối', fault: 'Loại lỗi',
    messages: 'Số thông điệp', last_seen: 'Gặp gần nhất', reason: 'Lý do', subject: 'Chủ đề',
    agency_code: 'Cơ quan, đơn vị',
  },
  en: {
    day: 'Day', events: 'Events', rejected: 'Rejected', fault: 'Fault', messages: 'Messages',
    last_seen: 'Last seen', reason: 'Reason', subject: 'Subject', agency_code: 'Agency',
  },
};

/** Every text the UI shows, by catalogue, then language, then key (the browser test checks both languages have every key). */
export const CATALOGUES = { text: TEXT, metrics: METRICS, columns: COLUMNS };

let lang = 'vi';

/** Picks the language: `?lang=` of the page address, else the saved choice, else Vietnamese. */
export function initLang() {
  const asked = new URLSearchParams(location.search).get('lang');
  const saved = safeStorage(() => localStorage.getItem(LANG_KEY));
  lang = asked === 'en' || asked === 'vi' ? asked : saved === 'en' ? 'en' : 'vi';
  document.documentElement.lang = lang;
  return lang;
}

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'vi';
  safeStorage(() => localStorage.setItem(LANG_KEY, lang));
  document.documentElement.lang = lang;
}

/** localStorage may be refused (a sandboxed frame): then nothing is remembered. */
export function safeStorage(f) {
  try {
    return f();
  } catch {
    return null;
  }
}

/** The text of `key`, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = TEXT[lang][key] ?? TEXT.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function metricName(name) {
  return METRICS[lang][name] ?? name;
}

export function columnName(name) {
  return COLUMNS[lang][name] ?? name;
}

/** A rubric's component or criterion (from the PAR Index): its English name in English when it has one. */
export function rubricName(item) {
  return (lang === 'en' && item.name_en) || item.name;
}

/** A title given in both languages by a dashboard file. */
export function pick(text) {
  if (!text) return '';
  return text[lang] || text.vi || '';
}

const numberFormats = new Map();

let agencyNames = {};

/** Remembers the agency directory's names (code → name) for {@link agencyLabel}. */
export function setAgencyNames(names) {
  agencyNames = names || {};
}

/** An agency as people read it: "name (code)", or the code when the directory has no name. */
export function agencyLabel(code) {
  const name = agencyNames[code];
  return name ? `${name} (${code})` : code;
}

/**
 * A number with `digits` decimals (up to `most` when given: 1,7 but 1,725) in the language's
 * format (vi: 12.345,6).
 */
export function fmtNumber(value, digits = 0, most = digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const key = `${lang}:${digits}:${most}`;
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', {
      minimumFractionDigits: digits,
      maximumFractionDigits: most,
    }));
  }
  return numberFormats.get(key).format(value);
}

/** A metric value in its unit: shares as percentages, days with one decimal, counts whole. */
export function fmtValue(value, unit) {
  if (value === null || value === undefined) return '–';
  if (unit === 'ratio') return `${fmtNumber(value * 100, 1)}%`;
  if (unit === 'days') return `${fmtNumber(value, 1)} ${t('days')}`;
  return fmtNumber(value, Number.isInteger(value) ? 0 : 1);
}

/** `YYYY-MM-DD` → `dd/mm/yyyy`. */
export function fmtDate(iso) {
  if (!iso) return '–';
  const [y, m, d] = iso.slice(0, 10).split('-');
  return `${d}/${m}/${y}`;
}

/** `dd/mm/yyyy` → `YYYY-MM-DD`, or null when it is not a real date. */
export function parseDate(text) {
  const m = /^\s*(\d{1,2})\/(\d{1,2})\/(\d{4})\s*$/.exec(text || '');
  if (!m) return null;
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return date.toISOString().slice(0, 10);
}

const timeFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

/** An instant as `dd/mm/yyyy HH:MM:SS` in the province's time zone. */
export function fmtTime(instant) {
  if (!instant) return '–';
  const date = new Date(String(instant).replace(' ', 'T'));
  if (Number.isNaN(date.getTime())) return String(instant);
  const p = Object.fromEntries(timeFormat.formatToParts(date).map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
}

/** How long ago an instant was, roughly. */
export function fmtAgo(instant) {
  const date = new Date(String(instant).replace(' ', 'T'));
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  const units = lang === 'vi'
    ? [[86400, 'ngày'], [3600, 'giờ'], [60, 'phút'], [1, 'giây']]
    : [[86400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']];
  const [size, name] = units.find(([s]) => seconds >= s) || units[units.length - 1];
  return t('ago', { t: `${fmtNumber(Math.floor(seconds / size))} ${name}` });
}

/** The name of a bucket starting on `iso`, long (tooltips) or short (axis). */
export function fmtBucket(iso, bucket, long = false) {
  const [y, m, d] = iso.split('-');
  switch (bucket) {
    case 'year':
      return long ? t('year_of', { y }) : y;
    case 'quarter':
      return t('q', { q: Math.floor((Number(m) - 1) / 3) + 1, y });
    case 'month':
      return long ? t('month_of', { m: `${m}/${y}` }) : `${m}/${y}`;
    case 'week':
      return long ? t('week_of', { d: fmtDate(iso) }) : `${d}/${m}`;
    default:
      return long ? fmtDate(iso) : `${d}/${m}`;
  }
}
