//! Property tests: idempotence, embedded timestamps come back, invalid dates never parse,
//! no panics.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use proptest::prelude::*;
use threddex_ids::{
    Deriver, authority_from_host, is_live_name, path_date, read_time, render as render_name,
    renders_back,
};

const AUTH: &str = "org.example";

/// A deriver with extra rules, compiled once.
static WITH_RULES: std::sync::LazyLock<Deriver> = std::sync::LazyLock::new(|| {
    Deriver::with_extra_rules(&[r"\d+\.\dN_\d+\.\dW".to_owned(), "_x[0-9]".to_owned()]).unwrap()
});

/// Strings built from pieces that exercise the grammar (digits of every length, separators,
/// GOES/OBPG prefixes, ranges, non-ASCII).
fn tricky() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("_".to_owned()),
        Just("/".to_owned()),
        Just("-".to_owned()),
        Just(".".to_owned()),
        Just(" ".to_owned()),
        Just("T".to_owned()),
        Just("Z".to_owned()),
        Just(":".to_owned()),
        Just("_s".to_owned()),
        Just("_e".to_owned()),
        Just("_c".to_owned()),
        Just("S".to_owned()),
        Just("é".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("2019".to_owned()),
        Just("1899".to_owned()),
        Just("20190830".to_owned()),
        Just("1713".to_owned()),
        Just("2019-08-30".to_owned()),
        Just("20192430003570".to_owned()),
        Just("185001-200512".to_owned()),
        Just("08".to_owned()),
        Just("243".to_owned()),
        Just("0101".to_owned()),
        Just("00".to_owned()),
        Just("23".to_owned()),
        Just("2019/243/00".to_owned()),
        Just("2000/0229/".to_owned()),
        Just("_34.0N_82.0W".to_owned()),
        Just("_x".to_owned()),
        "[0-9]{1,16}",
        "[a-zA-Z]{1,4}",
        "[0-9_./-]{1,6}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

fn check_idempotent(der: &Deriver, s: &str) -> Result<(), TestCaseError> {
    let c = der.derive(s, AUTH).collection_id;
    let again = der.derive(&c, AUTH).collection_id;
    prop_assert_eq!(&again, &c, "with prefix, from {:?}", s);
    let bare = c.strip_prefix("org.example:").unwrap_or(&c);
    let again = der.derive(bare, AUTH).collection_id;
    prop_assert_eq!(&again, &c, "without prefix, from {:?}", s);
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Form {
    Ymd,
    YmdHm(char),
    YmdHms(char),
    Ymdh,
    Ymdhm,
    Iso,
    IsoSec,
    Doy,
    Goes,
    Obpg,
    FolderYmd,
}

fn render(form: Form, t: NaiveDateTime) -> (String, NaiveDateTime) {
    use chrono::Timelike;
    let d = t.date();
    let at = |h, m, s| NaiveDateTime::new(d, NaiveTime::from_hms_opt(h, m, s).unwrap());
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    match form {
        Form::Ymd => (t.format("%Y%m%d").to_string(), at(0, 0, 0)),
        Form::YmdHm(c) => (t.format(&format!("%Y%m%d{c}%H%M")).to_string(), at(h, m, 0)),
        Form::YmdHms(c) => (
            t.format(&format!("%Y%m%d{c}%H%M%S")).to_string(),
            at(h, m, s),
        ),
        Form::Ymdh => (t.format("%Y%m%d%H").to_string(), at(h, 0, 0)),
        Form::Ymdhm => (t.format("%Y%m%d%H%M").to_string(), at(h, m, 0)),
        Form::Iso => (t.format("%Y-%m-%dT%H:%M").to_string(), at(h, m, 0)),
        Form::IsoSec => (t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), at(h, m, s)),
        Form::Doy => (t.format("%Y%j").to_string(), at(0, 0, 0)),
        Form::Goes => (t.format("s%Y%j%H%M%S0").to_string(), at(h, m, s)),
        Form::Obpg => (t.format("%Y%j").to_string(), at(0, 0, 0)),
        Form::FolderYmd => (t.format("%Y/%m/%d").to_string(), at(0, 0, 0)),
    }
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Ymd),
        prop::sample::select(vec!['_', 'T', '.']).prop_map(Form::YmdHm),
        prop::sample::select(vec!['_', 'T', '.']).prop_map(Form::YmdHms),
        Just(Form::Ymdh),
        Just(Form::Ymdhm),
        Just(Form::Iso),
        Just(Form::IsoSec),
        Just(Form::Doy),
        Just(Form::Goes),
        Just(Form::Obpg),
        Just(Form::FolderYmd),
    ]
}

fn datetime() -> impl Strategy<Value = NaiveDateTime> {
    (1800i32..=2300, 1u32..=366, 0u32..24, 0u32..60, 0u32..60).prop_filter_map(
        "valid day of year",
        |(y, doy, h, m, s)| {
            Some(NaiveDateTime::new(
                NaiveDate::from_yo_opt(y, doy)?,
                NaiveTime::from_hms_opt(h, m, s)?,
            ))
        },
    )
}

/// A dated folder layout.
#[derive(Debug, Clone, Copy)]
enum Chain {
    /// `YYYY/MM/DD`
    YearMonthDay,
    /// `YYYY/MMDD`
    YearMmdd,
    /// `YYYY/DDD`
    YearDoy,
    /// `YYYYMMDD`
    Compact,
    /// `YYYYDDD`
    CompactDoy,
    /// `YYYY-MM-DD`
    Dashed,
    /// `YYYYMM/YYYYMMDD` (a month folder above the day folder)
    MonthThenDay,
}

/// What the file name of a granule carries.
#[derive(Debug, Clone, Copy)]
enum FileTime {
    /// Nothing: the folders carry the time.
    None,
    /// Its day (`_YYYYMMDD`).
    Day,
    /// Its minute (NEXRAD `_YYYYMMDD_HHMM`).
    Minute,
    /// Its second (GOES-R `_sYYYYJJJHHMMSSt_e…_c…`).
    Goes,
}

fn chain_folder(chain: Chain, t: NaiveDateTime, hour: bool) -> String {
    let fmt = match chain {
        Chain::YearMonthDay => "%Y/%m/%d",
        Chain::YearMmdd => "%Y/%m%d",
        Chain::YearDoy => "%Y/%j",
        Chain::Compact => "%Y%m%d",
        Chain::CompactDoy => "%Y%j",
        Chain::Dashed => "%Y-%m-%d",
        Chain::MonthThenDay => "%Y%m/%Y%m%d",
    };
    let mut s = t.format(fmt).to_string();
    if hour {
        s.push_str(&t.format("/%H").to_string());
    }
    s
}

/// A granule of the series `{dir}/…/{word}` at `t`: its id, its collection path and the
/// start the identity rules must find (the finest time the id carries).
fn series_granule(
    dir: &str,
    word: &str,
    chain: Chain,
    hour: bool,
    file: FileTime,
    t: NaiveDateTime,
) -> (String, String, NaiveDateTime) {
    use chrono::Timelike;
    let folder = chain_folder(chain, t, hour);
    let day = t.date().and_hms_opt(0, 0, 0).unwrap();
    let folder_time = if hour {
        t.date().and_hms_opt(t.hour(), 0, 0).unwrap()
    } else {
        day
    };
    match file {
        FileTime::None => (
            format!("{dir}/{folder}/{word}.nc"),
            format!("{dir}/{word}.nc"),
            folder_time,
        ),
        FileTime::Day => (
            format!("{dir}/{folder}/{word}_{}.nc", t.format("%Y%m%d")),
            format!("{dir}/{word}.nc"),
            folder_time,
        ),
        FileTime::Minute => (
            format!(
                "{dir}/{folder}/Level3_{word}_{}.nids",
                t.format("%Y%m%d_%H%M")
            ),
            format!("{dir}/Level3_{word}.nids"),
            t.date().and_hms_opt(t.hour(), t.minute(), 0).unwrap(),
        ),
        FileTime::Goes => {
            let stamp = t.format("%Y%j%H%M%S0").to_string();
            (
                format!(
                    "{dir}/{folder}/OR_ABI-L1b-RadC-M6C02_{word}_s{stamp}_e{stamp}_c{stamp}.nc"
                ),
                format!("{dir}/OR_ABI-L1b-RadC-M6C02_{word}.nc"),
                t,
            )
        }
    }
}

proptest! {
    // PROPTEST_CASES overrides the default of 2000 cases per property.
    #![proptest_config({
        let cases: u32 = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        ProptestConfig { cases, max_global_rejects: cases, ..ProptestConfig::default() }
    })]

    #[test]
    fn idempotent_on_tricky_strings(s in tricky()) {
        check_idempotent(&Deriver::new(), &s)?;
        check_idempotent(&WITH_RULES, &s)?;
    }

    #[test]
    fn idempotent_on_any_string(s in any::<String>()) {
        check_idempotent(&Deriver::new(), &s)?;
    }

    #[test]
    fn embedded_timestamp_comes_back(
        t in datetime(),
        form in form(),
        dir in "[a-z]{1,6}(/[A-Za-z]{1,6}){0,2}",
        word in "[a-z][a-zA-Z]{0,6}",
        sep in prop::sample::select(vec!["_", "-", "."]),
        ext in prop::sample::select(vec![".nc", ".grib2", "_tail.nc", "", "-x"]),
    ) {
        // `YYYY/MM/DD` folders need a bare-year folder (1900..=2300)
        prop_assume!(!matches!(form, Form::FolderYmd) || chrono::Datelike::year(&t) >= 1900);
        let (text, want) = render(form, t);
        let raw = match form {
            Form::Goes => format!("{dir}/{word}_{text}{ext}"),
            Form::Obpg => format!("{dir}/A{text}{ext}"),
            Form::FolderYmd => format!("{dir}/{text}/{word}{ext}"),
            _ => format!("{dir}/{word}{sep}{text}{ext}"),
        };
        let d = Deriver::new().derive(&raw, AUTH);
        prop_assert_eq!(d.start.map(|s| s.naive_utc()), Some(want), "{}", raw);
        let tpl = d.template.clone().unwrap();
        prop_assert_eq!(read_time(&tpl, &raw), Some((d.start.unwrap(), d.end)));
        prop_assert!(!d.collection_id.contains(&text), "{} -> {}", raw, d.collection_id);
        check_idempotent(&Deriver::new(), &raw)?;
        // One time in the name: the template and the time re-create it exactly.
        prop_assert_eq!(render_name(&tpl, d.start.unwrap(), d.end), Some(raw.clone()), "{}", tpl);
        prop_assert!(renders_back(&tpl, &raw, d.start.unwrap(), d.end));
    }

    #[test]
    fn render_inverts_derive_or_says_not_renderable(b in tricky()) {
        let d = Deriver::new().derive(&b, "");
        if let (Some(tpl), Some(start)) = (d.template, d.start) {
            let r = render_name(&tpl, start, d.end);
            // Either the exact name comes back, and then its time reads back too, or the
            // check reports "not renderable"; never a different name passing as this one.
            prop_assert_eq!(renders_back(&tpl, &b, start, d.end), r.as_deref() == Some(b.as_str()),
                "{:?} {:?} {:?}", b, tpl, r);
        }
    }

    #[test]
    fn invalid_dates_never_parse(
        y in 1900i32..=2300,
        bad_month in 13u32..=99,
        bad_day in 32u32..=99,
        bad_hour in 24u32..=99,
        bad_min in 60u32..=99,
        bad_doy in 367u32..=999,
        ok in 1u32..=12,
        which in 0usize..8,
    ) {
        let raw = match which {
            0 => format!("x/a_{y}{bad_month:02}01.nc"),
            1 => format!("x/a_{y}{ok:02}{bad_day:02}.nc"),
            2 => format!("x/a_{y}{ok:02}01{bad_hour:02}.nc"),
            3 => format!("x/a_{y}{ok:02}0112{bad_min:02}.nc"),
            4 => format!("x/a_{y}{bad_doy:03}.nc"),
            5 => format!("x/a_{y}{bad_month:02}.nc"),
            6 => format!("x/a_s{y}{bad_doy:03}0000000_b.nc"),
            _ => format!("x/A{y}{bad_doy:03}.L3m.nc"),
        };
        let d = Deriver::new().derive(&raw, AUTH);
        prop_assert_eq!(d.start, None, "{}", raw);
        prop_assert_eq!(d.collection_id, format!("{AUTH}:{raw}"));
        // a bad time after a good date: the date is taken, the time is not
        let raw = format!("x/a_{y}{ok:02}01_{bad_hour:02}00.nc");
        let d = Deriver::new().derive(&raw, AUTH);
        let s = d.start.unwrap().naive_utc();
        prop_assert_eq!(s, NaiveDate::from_ymd_opt(y, ok, 1).unwrap().and_hms_opt(0, 0, 0).unwrap());
        prop_assert_eq!(d.collection_id, format!("{AUTH}:x/a_{bad_hour:02}00.nc"));
    }

    #[test]
    fn dated_folder_chains_make_one_series(
        t1 in datetime(),
        t2 in datetime(),
        chain in prop::sample::select(vec![
            Chain::YearMonthDay,
            Chain::YearMmdd,
            Chain::YearDoy,
            Chain::Compact,
            Chain::CompactDoy,
            Chain::Dashed,
            Chain::MonthThenDay,
        ]),
        hour in any::<bool>(),
        file in prop::sample::select(vec![
            FileTime::None,
            FileTime::Day,
            FileTime::Minute,
            FileTime::Goes,
        ]),
        dir in "[a-z]{1,6}(/[A-Za-z]{1,6}){0,2}",
        word in "[a-z][a-zA-Z]{0,6}",
    ) {
        use chrono::Datelike;
        // Year folders are bare years (1900..=2300).
        prop_assume!(t1.year() >= 1900 && t2.year() >= 1900);
        let der = Deriver::new();
        let mut one = Vec::new();
        for t in [t1, t2] {
            let (raw, coll, want) = series_granule(&dir, &word, chain, hour, file, t);
            let d = der.derive(&raw, AUTH);
            prop_assert_eq!(&d.collection_id, &format!("{AUTH}:{coll}"), "{}", raw);
            prop_assert_eq!(d.start.map(|s| s.naive_utc()), Some(want), "{}", raw);
            let tpl = d.template.clone().unwrap();
            prop_assert_eq!(read_time(&tpl, &raw), Some((d.start.unwrap(), d.end)), "{}", tpl);
            // Every granule of the series renders back from the template and its time
            // (GOES names carry a creation time and never do).
            if !matches!(file, FileTime::Goes) {
                prop_assert!(renders_back(&tpl, &raw, d.start.unwrap(), d.end), "{} {}", tpl, raw);
            }
            check_idempotent(&der, &raw)?;
            one.push((d.collection_id, tpl));
        }
        // One collection and one template for the series.
        prop_assert_eq!(&one[0], &one[1]);
    }

    #[test]
    fn not_dated_folders_stay(
        run in 0u32..1900,
        hh in 0u32..100,
        mmdd in (1u32..=12, 1u32..=31).prop_map(|(m, d)| m * 100 + d),
        bad_hour in 24u32..100,
        t in datetime(),
        dir in "[a-z]{1,6}",
        word in "[a-z][a-zA-Z]{0,6}",
    ) {
        use chrono::Datelike;
        let der = Deriver::new();
        // Run numbers, version folders, a lone hour-like folder and MMDD without a year
        // folder are not dates.
        for raw in [
            format!("{dir}/{run:04}/{word}.nc"),
            format!("{dir}/v{run}/{word}.nc"),
            format!("{dir}/{hh:02}/{word}.nc"),
            format!("{dir}/{mmdd:04}/{word}.nc"),
            format!("{dir}/{hh:02}/{mmdd:04}/{word}.nc"),
        ] {
            let d = der.derive(&raw, AUTH);
            prop_assert_eq!(d.start, None, "{}", raw);
            prop_assert_eq!(d.collection_id, format!("{AUTH}:{raw}"));
        }
        // An hour past 23 below a date is not an hour: the date is taken, the folder stays.
        prop_assume!(t.year() >= 1900);
        for chain in ["%Y/%m/%d", "%Y/%m%d", "%Y/%j", "%Y%m%d", "%Y%j", "%Y-%m-%d"] {
            let raw = format!("{dir}/{}/{bad_hour}/{word}.nc", t.format(chain));
            let d = der.derive(&raw, AUTH);
            prop_assert_eq!(
                d.start.map(|s| s.naive_utc()),
                Some(t.date().and_hms_opt(0, 0, 0).unwrap()),
                "{}", raw
            );
            prop_assert_eq!(d.collection_id, format!("{AUTH}:{dir}/{bad_hour}/{word}.nc"));
            prop_assert_eq!(path_date(&raw), Some(t.date()), "{}", raw);
        }
    }

    #[test]
    fn no_panic_anywhere(a in any::<String>(), b in tricky()) {
        let der = Deriver::new();
        let _ = der.derive(&a, &b);
        let _ = der.derive(&b, "");
        let _ = read_time(&a, &b);
        let _ = read_time(&b, &a);
        let _ = read_time(&b, &b);
        let t0 = chrono::DateTime::from_timestamp(1_567_185_180, 0).unwrap();
        let _ = render_name(&a, t0, Some(t0));
        let _ = render_name(&b, t0, None);
        let _ = renders_back(&b, &a, t0, None);
        let _ = path_date(&a);
        let _ = path_date(&b);
        let _ = is_live_name(&a);
        let a2 = authority_from_host(&a);
        prop_assert!(!a2.contains(':') && !a2.is_empty());
        if let Some(t) = der.derive(&b, AUTH).template {
            prop_assert!(read_time(&t, b.strip_prefix("org.example:").unwrap_or(&b)).is_some(), "{} {}", b, t);
        }
    }
}
